"""The command line: one module per command, registered on one click group when first used."""

from __future__ import annotations

from sigmaform.cli.app import cli


def main() -> None:
    cli(prog_name="sigmaform")


__all__ = ["cli", "main"]
