"""One canonical layout for resource files, keeping comments: what `sigmaform fmt` writes.

Keys in the order of the schema (`kind`, `name`, flags, `spec` in the order of the
Update Agent page, `environments`), two spaces per level, multi-line text as `|` blocks.
Values never change, so a formatted file renders exactly as before.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

from sigmaform.errors import ConfigError, Problem
from sigmaform.files import write_atomic
from sigmaform.kinds import KINDS
from sigmaform.schemacheck import load_schema
from sigmaform.yamledit import (
    CommentedMap,
    CommentedSeq,
    FoldedScalarString,
    LiteralScalarString,
    blockable,
    dump_documents,
    load_documents,
    styled_like,
)

# Flags come between the identity and the body: they change how the body is treated.
DOCUMENT_ORDER = (
    "kind",
    "name",
    "protect",
    "only",
    "ignoreChanges",
    "spec",
    "gate",
    "environments",
)

Schema = Mapping[str, Any]

# Where the Update Agent page orders an item's fields unlike the schema's property order
# (the tool as in its request example, the webhook as GET returns it): the page wins.
PAGE_ORDER: dict[str, tuple[str, ...]] = {
    "tool": (
        "type",
        "transferTo",
        "instruction",
        "transferToRouting",
        "extensionNumber",
        "nodeId",
        "toolName",
        "description",
        "transferSettings",
    ),
    "webhook": ("name", "url", "secret", "events", "webhookId", "active"),
}
ORDER_KEY = "x-sigmaform-order"


@dataclass(frozen=True)
class Formatted:
    """One file and its canonical text (`changed` when the two differ)."""

    path: Path
    display: str
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def write(self) -> None:
        write_atomic(self.path, self.after)


def format_text(text: str, display: str) -> str:
    """The canonical layout of a resource file's text (every document in it)."""
    documents = load_documents(text, display)
    if not documents:
        return text
    for document in documents:
        format_document(document)
    return indent_comments(dump_documents(documents))


def format_document(document: Any) -> None:
    """Reorder a resource document in place; anything that is not one keeps its order."""
    if not isinstance(document, CommentedMap):
        return
    kind = document.get("kind")
    _reorder(document, DOCUMENT_ORDER)
    spec_schema = spec_schema_of(kind) if isinstance(kind, str) else None
    spec = document.get("spec")
    if isinstance(spec, CommentedMap) and spec_schema is not None:
        _format_node(spec, spec_schema, kind)
    overrides = document.get("environments")
    if isinstance(overrides, CommentedMap):
        for override in overrides.values():
            if isinstance(override, CommentedMap) and spec_schema is not None:
                _format_node(override, spec_schema, kind)
    _block_strings(document)


@cache
def spec_schema_of(kind: str) -> Schema | None:
    """The JSON Schema of a kind's `spec` (resolved), or None for an unknown kind."""
    info = KINDS.get(kind)
    if info is None:
        return None
    schema = load_schema(info.schema)
    return _resolve(schema, schema["properties"]["spec"], info.schema)


def child_schema(kind: str, node: Schema, key: str | None) -> Schema:
    """The schema of a property (`key`) or of a list's items (`key` None)."""
    info = KINDS[kind]
    root = load_schema(info.schema)
    if key is None:
        items = node.get("items")
        return _resolve(root, items, info.schema) if isinstance(items, Mapping) else {}
    props = node.get("properties")
    if isinstance(props, Mapping) and isinstance(props.get(key), Mapping):
        return _resolve(root, props[key], info.schema)
    return {}


def key_order(node: Schema) -> tuple[str, ...]:
    page = node.get(ORDER_KEY)
    if isinstance(page, tuple):
        return page
    props = node.get("properties")
    return tuple(props) if isinstance(props, Mapping) else ()


def insert_position(mapping: CommentedMap, key: str, order: Sequence[str]) -> int:
    """Where a new `key` goes: before the first present key that the order puts after it."""
    if key not in order:
        return len(mapping)
    rank = order.index(key)
    for index, present in enumerate(mapping):
        if present in order and order.index(present) > rank:
            return index
    return len(mapping)


def _resolve(root: Schema, node: Schema, name: str) -> Schema:
    seen = 0
    definition = None
    while isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/$defs/") and seen < 10:
        definition = node["$ref"].removeprefix("#/$defs/")
        node = root["$defs"][definition]
        seen += 1
    if definition in PAGE_ORDER:
        return {**node, ORDER_KEY: PAGE_ORDER[definition]}
    return node


def _format_node(node: Any, schema: Schema, kind: str) -> None:
    if isinstance(node, CommentedMap):
        _reorder(node, key_order(schema))
        for key, child in node.items():
            _format_node(child, child_schema(kind, schema, str(key)), kind)
    elif isinstance(node, CommentedSeq):
        items = child_schema(kind, schema, None)
        for child in node:
            _format_node(child, items, kind)


def _reorder(mapping: CommentedMap, order: Sequence[str]) -> None:
    """Known keys in `order`, then the others as written; comments travel with their key."""
    present = list(mapping)
    wanted = [k for k in order if k in mapping] + [k for k in present if k not in order]
    if wanted == present:
        return
    _hand_over_comments(mapping, present, wanted)
    for key in wanted:
        mapping.move_to_end(key)


def _hand_over_comments(mapping: CommentedMap, present: list[Any], wanted: list[Any]) -> None:
    """Full-line comments (and blank lines) written above a key belong to it.

    ruamel keeps them after the previous key's value, and those after the last key after
    it; when keys move, the lines go to whichever key ends up before their own key (or
    last, for those that closed the mapping).
    """
    items = mapping.ca.items
    above: dict[Any, str] = {}
    tail = ""
    for index, before in enumerate(present):
        token = _eol_token(items, before)
        if token is None:
            continue
        head, newline, rest = token.value.partition("\n")
        if not rest:
            continue
        token.value = head + newline
        if index + 1 < len(present):
            above[present[index + 1]] = rest
        else:
            tail = rest
    for before, after in itertools.pairwise(wanted):
        if after in above:
            _append_comment(items, before, above.pop(after))
    # What is left belongs to the first key now, or closed the mapping: it goes last.
    _append_comment(items, wanted[-1], "".join(above.values()) + tail)


def _append_comment(items: dict[Any, Any], key: Any, text: str) -> None:
    if not text:
        return
    token = _eol_token(items, key)
    if token is not None:
        token.value += text
    elif text.strip():  # blank lines alone are layout: dropped where they cannot go
        items.setdefault(key, [None, None, None, None])
        entry = items[key]
        entry[2] = CommentToken(text if text.startswith("\n") else "\n" + text, _mark(), None)


def _mark() -> CommentMark:
    return CommentMark(0)


def _eol_token(items: dict[Any, Any], key: Any) -> Any:
    entry = items.get(key)
    if entry and len(entry) > 2 and entry[2] is not None:
        return entry[2]
    return None


def _block_strings(node: Any) -> None:
    """Multi-line text written quoted or plain becomes a `|` block (same value)."""
    if isinstance(node, CommentedMap):
        for key, child in node.items():
            if _needs_block(child):
                node[key] = styled_like(child, str(child))
            else:
                _block_strings(child)
    elif isinstance(node, CommentedSeq):
        for index, child in enumerate(node):
            if _needs_block(child):
                node[index] = styled_like(child, str(child))
            else:
                _block_strings(child)


def _needs_block(value: Any) -> bool:
    return (
        isinstance(value, str)
        and blockable(value)
        and not isinstance(value, (LiteralScalarString, FoldedScalarString))
    )


def project_files(root: Path) -> list[Path]:
    """Every resource file the project's `resources` globs match."""
    from sigmaform.project import load_project_file, resource_files

    return resource_files(root, load_project_file(root))


def format_paths(paths: Sequence[Path], root: Path) -> list[Formatted]:
    """Each resource file among `paths` (directories searched for *.yaml, *.yml)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(Problem(str(path), message="no such file or directory"))
    out = []
    for path in dict.fromkeys(files):
        text = path.read_text(encoding="utf-8")
        display = _display(path, root)
        if _holds_resources(text, display):
            out.append(Formatted(path, display, text, format_text(text, display)))
    return out


def _holds_resources(text: str, display: str) -> bool:
    """Only resource files are formatted: CI workflows or sigmaform.yaml keep their layout."""
    try:
        documents = load_documents(text, display)
    except ConfigError:
        return True  # reported when formatted, with file:line
    return any(isinstance(d, Mapping) and d.get("kind") in KINDS for d in documents)


def _display(path: Path, root: Path) -> str:
    try:
        return path.absolute().relative_to(root.absolute()).as_posix()
    except ValueError:
        return str(path)


_BLOCK_START = re.compile(r"(^|[\s:-])[|>][+-]?[0-9]?[+-]?\s*(#.*)?$")


def indent_comments(text: str) -> str:
    """Each full-line comment at the indentation of the line it stands above.

    ruamel keeps a comment at the column it was read at, so one written above a key that
    moves to another level would be left behind. Lines inside `|` and `>` blocks are
    text, not comments, and stay as they are.
    """
    lines = text.split("\n")
    out = list(lines)
    block_indent: int | None = None  # inside a block scalar opened at this indentation
    pending: list[int] = []
    for index, line in enumerate(lines):
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if block_indent is not None:
            if not stripped or indent > block_indent:
                continue
            block_indent = None
        if not stripped:
            continue
        if stripped.startswith("#"):
            pending.append(index)
            continue
        for held in pending:
            out[held] = " " * indent + lines[held].lstrip(" ")
        pending = []
        if _BLOCK_START.search(stripped.split(" #", 1)[0] if " #" in stripped else stripped):
            block_indent = indent
    return "\n".join(out)
