"""The command line: one module per command, registered on one click group when first used."""

from __future__ import annotations

import gc

from sigmaform.cli.app import cli


def main() -> None:
    try:
        cli(prog_name="sigmaform")
    finally:
        # The process ends here. Its last act would be a garbage collection over every
        # object left (a plan of 1,000 agents holds ~100,000): ~10 ms to free memory the
        # exit frees anyway. Frozen objects are left out of it; atexit handlers still run.
        gc.freeze()


__all__ = ["cli", "main"]
