"""The command line: one module per command, all registered on one click group."""

from __future__ import annotations

from sigmaform.cli.app import cli

# Importing a command module registers its command on `cli`.
from sigmaform.cli import commands  # noqa: F401  isort: skip


def main() -> None:
    cli(prog_name="sigmaform")


__all__ = ["cli", "main"]
