"""JSON that sigmaform reads back (state, saved plans): untrusted input, refused cleanly.

A state or plan file may have been edited, truncated, swapped for a device or a FIFO, or
be binary garbage. Each of those is a ConfigError naming the file, never a traceback,
and never a read that hangs (a FIFO) or never ends (`/dev/zero`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sigmaform.errors import ConfigError, Problem
from sigmaform.files import MAX_DEPTH, NotRegularFileError, read_regular

# Spec values are at most MAX_DEPTH deep (the YAML loader refuses more); a state or plan
# wraps them in a few levels of its own.
MAX_JSON_DEPTH = MAX_DEPTH + 10


def read_json_file(path: Path, display: str) -> Any:
    """The parsed JSON of a regular file. FileNotFoundError propagates: callers decide
    whether a missing file is an error."""
    try:
        raw = read_regular(path)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise ConfigError(Problem(display, message="is a directory, not a file")) from None
    except NotRegularFileError:
        raise ConfigError(Problem(display, message="not a regular file; refused")) from None
    except OSError as error:  # permissions, a name too long, a loop of links
        raise ConfigError(Problem(display, message=f"cannot read: {error.strerror}")) from None
    return parse_json(raw, display)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes, display: str) -> Any:
    """Parse `raw` as UTF-8 JSON no deeper than MAX_JSON_DEPTH; ConfigError otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        before = raw[: error.start]
        line = before.count(b"\n") + 1
        column = error.start - (before.rfind(b"\n") + 1) + 1
        raise ConfigError(
            Problem(display, line, column, message="not UTF-8 text (binary data?)")
        ) from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise ConfigError(
            Problem(display, error.lineno, error.colno, message=f"invalid JSON: {error.msg}")
        ) from None
    except RecursionError:
        raise ConfigError(
            Problem(display, message=f"invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels")
        ) from None
    except ValueError as error:  # NaN/Infinity, or an integer of thousands of digits
        raise ConfigError(Problem(display, message=f"invalid JSON: {error}")) from None
    check_depth(data, display)
    return data


def check_depth(data: Any, display: str) -> None:
    """Refuse data nested deeper than MAX_JSON_DEPTH: later steps recurse over it."""
    if not _within(data, MAX_JSON_DEPTH):
        raise ConfigError(
            Problem(display, message=f"nested deeper than {MAX_JSON_DEPTH} levels; refused")
        )


def _within(value: Any, budget: int) -> bool:
    # Recursion bounded by `budget` frames: about 5x faster than an explicit stack
    # (60 ms for a 40 MB state of 10,000 agents).
    if budget == 0:
        return False
    children = value.values() if type(value) is dict else value if type(value) is list else ()
    for child in children:
        kind = type(child)
        if (kind is dict or kind is list) and not _within(child, budget - 1):
            return False
    return True
