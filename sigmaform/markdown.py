"""Markdown code spans, code blocks and table cells that hold any text without breaking out.

Plans and drift reports are posted as pull-request comments and values in them come from
files and from the API. A value holding backticks must not end its code span or code block
and turn the rest into markdown (links, images, HTML) in someone else's comment. CommonMark
ends a code span only at a backtick run of exactly the opening length, and a code block only
at a fence at least as long as the opening one, so the fences here are one longer than the
longest run of backticks inside.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

_BACKTICKS = re.compile(r"`+")
# The characters that can open inline markup (or end a table cell) in running text.
_INLINE_MARKUP = re.compile(r"([\\`*_\[\]<>!|~&])")


def _longest_run(text: str) -> int:
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def code_span(text: str) -> str:
    """`text` as an inline code span, on one line."""
    text = text.replace("\r", " ").replace("\n", " ")
    fence = "`" * (_longest_run(text) + 1)
    # A span may not start or end with its own backticks; CommonMark strips one padding
    # space from each side when both are there, so a value with edge spaces keeps them.
    edge = text.startswith(("`", " ")) or text.endswith(("`", " "))
    pad = " " if edge and text.strip(" ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def table_code(text: str) -> str:
    """A code span for a table cell: `|` would end the cell, so it is escaped (GFM)."""
    return code_span(text).replace("|", "\\|")


def code_block(lines: Iterable[str], info: str = "") -> list[str]:
    """`lines` as a fenced code block (a list of lines, fences included)."""
    body = list(lines)
    fence = "`" * max(3, max((_longest_run(line) for line in body), default=0) + 1)
    return [fence + info, *body, fence]


def plain_text(text: str) -> str:
    """`text` shown as itself in running text or a table cell: markup characters escaped."""
    return _INLINE_MARKUP.sub(r"\\\1", text.replace("\r", " ").replace("\n", " "))


def html_text(text: str) -> str:
    """Text inside an HTML element such as `<summary><code>`: markup stays text."""
    return html.escape(text, quote=False)
