"""Round-trip YAML for the commands that edit files (`pull`, `fmt`, `import`).

The only module that imports ruamel.yaml. Reading for plan and validate stays with the
C loader in `yamlload.py`; this one keeps what a person wrote around the values it changes:
comments, key order, quoting style, blank lines and `!file` tags.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import YAMLError
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    PlainScalarString,
    ScalarString,
    SingleQuotedScalarString,
)

from sigmaform.errors import ConfigError, Problem
from sigmaform.files import FILE_TAG

__all__ = [
    "CommentedMap",
    "CommentedSeq",
    "FoldedScalarString",
    "Layout",
    "LiteralScalarString",
    "blockable",
    "dump_documents",
    "file_path_of",
    "file_ref",
    "guess_layout",
    "is_file_ref",
    "load_documents",
    "styled_like",
    "to_node",
]

# The canonical layout (`fmt`): two spaces per level, list dashes indented under their key.
CANONICAL = (2, 4, 2)
Layout = tuple[int, int, int]  # mapping indent, sequence indent, dash offset


class _Representer(RoundTripRepresenter):
    """`null` written as `null`, not as an empty value."""


def _represent_none(representer: _Representer, _: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


_Representer.add_representer(type(None), _represent_none)


def _yaml(layout: Layout = CANONICAL) -> YAML:
    yaml = YAML(typ="rt")
    yaml.Representer = _Representer
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line a person wrote
    mapping, sequence, offset = layout
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def load_documents(text: str, display: str) -> list[Any]:
    """Every document of a YAML text, as round-trip nodes; bad YAML is a ConfigError."""
    try:
        return list(_yaml().load_all(text))
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        column = mark.column + 1 if mark is not None else 0
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise ConfigError(Problem(display, line, column, "", str(problem))) from None


def guess_layout(text: str) -> Layout:
    """The indentation a file already uses, so an edit changes only the edited lines.

    Read from the first nested key and the first list under a key; CANONICAL otherwise.
    """
    mapping = offset = None
    previous: tuple[int, str] | None = None
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(stripped)
        if previous is not None and previous[1].endswith(":") and indent > previous[0]:
            step = indent - previous[0]
            if stripped.startswith("- "):
                offset = step if offset is None else offset
            elif not previous[1].startswith("- "):
                mapping = step if mapping is None else mapping
        if stripped.startswith("- ") and previous is not None and indent == previous[0]:
            offset = 0 if offset is None else offset  # dashes level with their key
        previous = (indent, stripped.split(" #", 1)[0].rstrip())
    mapping = mapping or CANONICAL[0]
    offset = CANONICAL[2] if offset is None else offset
    return (mapping, max(mapping, offset + 2), offset)


def dump_documents(documents: Sequence[Any], layout: Layout = CANONICAL) -> str:
    out = io.StringIO()
    _yaml(layout).dump_all(list(documents), out)
    return out.getvalue()


def is_file_ref(node: Any) -> bool:
    return isinstance(node, TaggedScalar) and str(node.tag) == FILE_TAG


def file_path_of(node: Any) -> str:
    assert isinstance(node, TaggedScalar)
    return str(node.value)


def file_ref(path: str) -> TaggedScalar:
    return TaggedScalar(value=path, style=None, tag=FILE_TAG)


_KEPT_STYLES: tuple[type[ScalarString], ...] = (
    DoubleQuotedScalarString,
    SingleQuotedScalarString,
    PlainScalarString,
)


# What a `|` block can hold as written; other text stays quoted (with escapes).
_NOT_BLOCKABLE = re.compile(
    "[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def blockable(text: str) -> bool:
    """Multi-line text that reads back the same from a `|` block."""
    return "\n" in text and _NOT_BLOCKABLE.search(text) is None


def styled_like(old: Any, new: str) -> Any:
    """`new` written the way `old` was: quotes kept; multi-line text as a `|` block."""
    if blockable(new):
        return LiteralScalarString(new)
    if isinstance(old, FoldedScalarString):
        return FoldedScalarString(new)
    for style in _KEPT_STYLES:
        if isinstance(old, style):
            return style(new)
    return new


def to_node(value: Any) -> Any:
    """Plain data as round-trip nodes: block style, multi-line text as `|` blocks."""
    if isinstance(value, dict):
        node = CommentedMap()
        for key, child in value.items():
            node[key] = to_node(child)
        return node
    if isinstance(value, list):
        seq = CommentedSeq(to_node(v) for v in value)
        return seq
    if isinstance(value, str) and blockable(value):
        return LiteralScalarString(value)
    return value
