"""Field-level comparison of spec-shaped values; the only module that imports deepdiff.

A spec is compared in *units*: each top-level field, except that objects the API merges
key by key (`agentSettings`) are compared per key. Arrays are units as a whole, because
the API replaces them whole. A unit is what a minimal PATCH sends.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sigmaform.state_blobs import TextRef, materialize


class _Missing:
    """Marks a unit absent on one side (never declared, or not present remotely)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()

Unit = tuple[str, ...]


def unit_name(unit: Unit) -> str:
    return ".".join(unit)


def iter_units(spec: Mapping[str, Any], merged: Collection[str]) -> Iterator[tuple[Unit, Any]]:
    """Each unit of `spec` with its value, in a stable order."""
    for key in sorted(spec):
        value = spec[key]
        if key in merged and isinstance(value, Mapping):
            for sub in sorted(value):
                yield (key, sub), value[sub]
        else:
            yield (key,), value


def get_unit(spec: Mapping[str, Any], unit: Unit) -> Any:
    node: Any = spec
    for part in unit:
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


def project(remote: Any, declared: Any) -> Any:
    """`remote` cut down to the shape of `declared`: only what the user manages.

    Mappings keep the declared keys that the remote has; lists compare item by item and
    keep surplus remote items whole, so a longer remote list still shows as a change.
    """
    if isinstance(declared, Mapping) and isinstance(remote, Mapping):
        return {k: project(remote[k], declared[k]) for k in declared if k in remote}
    if isinstance(declared, list) and isinstance(remote, list):
        head = [project(r, d) for r, d in zip(remote, declared, strict=False)]
        return head + list(remote[len(declared) :])
    return remote


def union_shape(
    a: Mapping[str, Any], b: Mapping[str, Any], merged: Collection[str]
) -> dict[str, Any]:
    """A declared shape covering the units of both `a` and `b` (for drift against old state)."""
    out: dict[str, Any] = dict(b)
    out.update(a)
    for key in merged:
        if isinstance(a.get(key), Mapping) and isinstance(b.get(key), Mapping):
            out[key] = {**b[key], **a[key]}
    return out


@dataclass(frozen=True)
class UnitDelta:
    unit: Unit
    before: Any  # MISSING when absent
    after: Any  # MISSING when absent


def changed_units(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    merged: Collection[str],
    *,
    only: Collection[Unit] | None = None,
) -> list[UnitDelta]:
    """Units whose values differ. `only` limits to units of interest (e.g. declared ones)."""
    if only is None and before == after:
        return []
    units = dict(iter_units(after, merged))
    if only is not None:
        keys = sorted(set(only))
    else:
        keys = sorted(set(units) | {u for u, _ in iter_units(before, merged)})
    deltas = []
    for unit in keys:
        a = get_unit(before, unit)
        b = units.get(unit, MISSING) if only is None else get_unit(after, unit)
        if a != b or (type(a) is not type(b) and not _same_number(a, b) and not _text(a, b)):
            # Only a changed unit's long text is read from state's blobs: to be shown.
            deltas.append(UnitDelta(unit, materialize(a), materialize(b)))
    return deltas


def same_units(
    before: Mapping[str, Any], after: Mapping[str, Any], merged: Collection[str]
) -> bool:
    """Whether `before` and `after` hold the same units with the same values: then
    `changed_units(before, after, merged)` is empty, and neither side has a unit that the
    other lacks. One deep `==` (in C but for long state text, compared by digest), then
    each unit's type as `changed_units` sees it (`True` equals `1`, but is a change)."""
    if before != after:
        return False
    for key, value in after.items():
        held = before[key]
        if key in merged and isinstance(value, Mapping):
            for sub, item in value.items():
                if not _same_type(held[sub], item):
                    return False
        elif not _same_type(held, value):
            return False
    return True


def _same_type(a: Any, b: Any) -> bool:
    return type(a) is type(b) or _same_number(a, b) or _text(a, b)


def share_equal(value: Any, like: Any) -> Any:
    """`value` with each text equal to the text at the same place in `like` replaced by
    `like`'s object: what a server echoes back (a 10 KB prompt) is then held once, not
    twice, in the state of a 10,000-agent apply. Equal by `==`, so nothing else changes.
    A text `like` holds by digest (a lazily loaded `!file`) is kept by digest too."""
    if isinstance(value, str):
        return like if isinstance(like, (str, TextRef)) and value == like else value
    if isinstance(value, dict) and isinstance(like, dict):
        return {k: share_equal(v, like[k]) if k in like else v for k, v in value.items()}
    if isinstance(value, list) and isinstance(like, list) and len(value) == len(like):
        return [share_equal(v, w) for v, w in zip(value, like, strict=True)]
    return value


def _text(a: Any, b: Any) -> bool:
    """One side held out of line in state (a TextRef or JsonRef): equal by digest means
    equal content, of the same type."""
    return isinstance(a, TextRef) or isinstance(b, TextRef)


def _same_number(a: Any, b: Any) -> bool:
    numeric = (int, float)
    return (
        isinstance(a, numeric)
        and isinstance(b, numeric)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


@dataclass(frozen=True)
class Detail:
    """One leaf difference inside a changed array or object unit."""

    path: str  # e.g. "[0].transferTo"
    before: Any
    after: Any


def details(before: Any, after: Any) -> list[Detail]:
    """Leaf-level differences inside a unit, for showing what changed within an array."""
    if not isinstance(before, (list, dict)) or not isinstance(after, (list, dict)):
        return []
    from deepdiff import DeepDiff  # here: a plan without array changes never needs it

    diff = DeepDiff(before, after, view="tree", verbose_level=2)
    out: list[Detail] = []
    for kind in sorted(diff.keys()):
        for level in diff[kind]:
            path = level.path(output_format="list")
            shown = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
            b = MISSING if kind.endswith("_added") else level.t1
            a = MISSING if kind.endswith("_removed") else level.t2
            out.append(Detail(shown.lstrip("."), b, a))
    out.sort(key=lambda d: d.path)
    return out
