"""Whether to colour output: `--color`, `--no-color`, NO_COLOR, FORCE_COLOR, a terminal.

The command line beats the environment, and "off" beats "on" at the same level, so
`--no-color` (or `--color never`) always wins, and a CI runner's FORCE_COLOR gives way
to a user's NO_COLOR (https://no-color.org, https://force-color.org).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

COLOR_CHOICES = ("auto", "always", "never")


def use_color(
    choice: str | None,
    no_color: bool = False,
    environ: Mapping[str, str] | None = None,
    isatty: bool | None = None,
) -> bool:
    """`choice` is `--color` (None when not given); `no_color` is `--no-color`."""
    env = os.environ if environ is None else environ
    if no_color or choice == "never":
        return False
    if choice == "always":
        return True
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    return sys.stdout.isatty() if isatty is None else isatty
