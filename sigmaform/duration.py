"""Durations as people write them: `500ms`, `5s`, `2m`, `1h`, `1m30s` (and bare seconds).

One grammar for `--lock-timeout` and the `tests:` settings of sigmaform.yaml.
"""

from __future__ import annotations

import re
from typing import Any

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_BARE = re.compile(r"\d+(?:\.\d+)?")


def parse_duration(text: Any, *, unit_required: bool = False) -> float | None:
    """Seconds in TEXT, or None when it is not a duration.

    `unit_required`: a bare number is refused (in a settings file `30` could mean
    anything; on the command line it is seconds, as Terraform's flags read it).
    """
    if not isinstance(text, str):
        return None
    text = text.strip().lower()
    if _BARE.fullmatch(text):
        return None if unit_required else float(text)
    if not text or _PART.sub("", text):
        return None
    return sum(float(n) * _SECONDS[unit] for n, unit in _PART.findall(text))
