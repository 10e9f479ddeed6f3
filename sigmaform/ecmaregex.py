"""JSON Schema `pattern`s, which are ECMA-262 regular expressions, with ECMA's meaning in Python.

The two dialects read the same text differently where it matters for validation: Python's
`$` also matches before a trailing newline (so `^\\+[0-9]+$` accepts `"+14155550100\\n"`),
its `.` matches a carriage return, and its `\\d` and `\\w` match any Unicode digit or letter.
ECMA's (without the `m` and `u` flags) do none of these. Every check of a schema pattern
(validate, the fast path, jsonschema's `pattern` keyword) goes through `search` here.
"""

from __future__ import annotations

import functools
import re

# ECMA's `.` (no `s` flag) matches anything but its four line terminators.
_DOT = "[^\\n\\r\\u2028\\u2029]"
# Outside and inside a character class: ECMA's ASCII-only shorthands.
_SHORTHANDS = {
    "d": ("[0-9]", "0-9"),
    "D": ("[^0-9]", None),
    "w": ("[A-Za-z0-9_]", "A-Za-z0-9_"),
    "W": ("[^A-Za-z0-9_]", None),
}


def to_python(pattern: str) -> str:
    """The Python regex that matches what the ECMA-262 `pattern` matches."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escaped = pattern[i + 1]
            outside, inside = _SHORTHANDS.get(escaped, (None, None))
            replacement = inside if in_class else outside
            # A negated shorthand inside a class has no ASCII spelling: Python's stays.
            out.append(replacement if replacement is not None else pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
            out.append(char)
        elif char == "[":
            in_class = True
            out.append(char)
        elif char == "$":
            out.append(r"\Z")
        elif char == ".":
            out.append(_DOT)
        else:
            out.append(char)
        i += 1
    return "".join(out)


@functools.cache
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """`pattern` compiled with ECMA-262 meaning; re.error when Python cannot express it."""
    return re.compile(to_python(pattern))


def search(pattern: str, text: str) -> bool:
    """Whether `text` matches `pattern` anywhere, as JSON Schema's `pattern` asks."""
    return compile_pattern(pattern).search(text) is not None
