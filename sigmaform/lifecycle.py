"""What stays managed over a resource's life: removed arrays, removed scalars, ignoreChanges.

Only declared fields are managed (design.md section 5), with two refinements:

- the arrays below, once applied, are *removed* when their key leaves the YAML: the API
  would otherwise keep a webhook posting call data (with its secret) that no file shows.
  Apply sends an empty array for them.
- `ignoreChanges: [PATH, ...]` leaves declared paths alone on purpose: sent on create,
  then never diffed, reported as drift or written.

A removed scalar keeps the older behaviour: the remote value stays and is no longer
managed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from functools import cache
from typing import Any

from sigmaform.diff import Unit
from sigmaform.errors import Problem
from sigmaform.files import Document
from sigmaform.interpolate import suggest
from sigmaform.kinds import KINDS
from sigmaform.remote import MERGED_OBJECTS
from sigmaform.schemacheck import load_schema

# Arrays whose removal from YAML removes them remotely (apply sends []).
REMOVABLE_ARRAYS: frozenset[Unit] = frozenset(
    {("tools",), ("agentSettings", "webhooks"), ("agentSettings", "postConversationAnalysis")}
)


def is_removal(unit: Unit, value: Any) -> bool:
    """A managed array that is no longer declared and still holds items: it is removed."""
    return unit in REMOVABLE_ARRAYS and isinstance(value, list) and bool(value)


def units_of(paths: Iterable[str]) -> set[Unit]:
    return {tuple(p.split(".")) for p in paths}


def without_units(spec: Mapping[str, Any], paths: Collection[str]) -> dict[str, Any]:
    """`spec` without the units named by `paths` (`agentSettings` alone drops all its keys)."""
    if not paths:
        return dict(spec)
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in spec.items()}
    for path in paths:
        top, _, sub = path.partition(".")
        if sub and isinstance(out.get(top), dict):
            out[top].pop(sub, None)
        elif not sub:
            out.pop(top, None)
    return out


@cache
def ignorable_paths(kind_name: str) -> frozenset[str]:
    """Every spec path `ignoreChanges` may name for a kind: its schema's fields (and keys)."""
    kind = KINDS[kind_name]
    schema = load_schema(kind.schema)
    spec = _resolve(schema, schema["properties"]["spec"])
    paths: set[str] = set()
    for name, node in spec.get("properties", {}).items():
        if name == kind.identity_field:
            continue  # the identity of an adopted object is never "a change"
        paths.add(name)
        if name in MERGED_OBJECTS[kind_name]:
            inner = _resolve(schema, node)
            paths.update(f"{name}.{key}" for key in inner.get("properties", {}))
    return frozenset(paths)


def _resolve(schema: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        found: Mapping[str, Any] = schema["$defs"][ref.removeprefix("#/$defs/")]
        return found
    return node


def ignore_problems(doc: Document) -> list[Problem]:
    """`ignoreChanges` must list known spec paths of the document's kind."""
    data = doc.data
    value = data.get("ignoreChanges") if isinstance(data, dict) else None
    kind = data.get("kind") if isinstance(data, dict) else None
    if value is None or kind not in KINDS:
        return []
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        return [doc.problem(("ignoreChanges",), "expected a list of spec paths")]
    known = ignorable_paths(str(kind))
    return [
        doc.problem(
            ("ignoreChanges", i),
            f"unknown path `{path}` for kind {kind}{suggest(path, sorted(known))} "
            "(a spec field, or agentSettings.KEY)",
        )
        for i, path in enumerate(value)
        if path not in known
    ]


def ignored_of(data: Mapping[str, Any]) -> tuple[str, ...]:
    value = data.get("ignoreChanges")
    if not isinstance(value, list):
        return ()
    return tuple(sorted({p for p in value if isinstance(p, str)}))


__all__ = [
    "REMOVABLE_ARRAYS",
    "ignorable_paths",
    "ignore_problems",
    "ignored_of",
    "is_removal",
    "units_of",
    "without_units",
]
