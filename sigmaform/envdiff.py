"""Two environments' rendered configs side by side: what differs per resource, secrets masked.

    diff_environments(resources_a, resources_b, "staging", "prod") -> EnvDiff

Pure. Each spec is flattened to leaf paths (`agentSettings.webhooks[0].url`) and the
leaves compared. A secret is never shown: when either side is sensitive the field reads
`(sensitive)`, and `(sensitive, differs)` when the two sides' values or sources differ.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sigmaform.resource import Resource
from sigmaform.sensitive import MASK, Sensitive

ABSENT = "(absent)"
SENSITIVE_DIFFERS = "(sensitive, differs)"


@dataclass(frozen=True)
class FieldDiff:
    """One leaf path whose rendered value differs; values masked, `*_absent` when missing."""

    path: str
    a: Any
    b: Any
    a_absent: bool = False
    b_absent: bool = False
    sensitive: bool = False


@dataclass(frozen=True)
class ResourceDiff:
    address: str
    kind: str
    name: str
    status: str  # "differs" | "same" | "only-a" | "only-b"
    fields: tuple[FieldDiff, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class EnvDiff:
    env_a: str
    env_b: str
    resources: tuple[ResourceDiff, ...]

    def count(self, status: str) -> int:
        return sum(1 for r in self.resources if r.status == status)

    @property
    def differs(self) -> bool:
        return any(r.status != "same" for r in self.resources)

    def to_dict(self) -> dict[str, Any]:
        def values(f: FieldDiff) -> dict[str, Any]:
            out: dict[str, Any] = {}
            if not f.a_absent:
                out[self.env_a] = f.a
            if not f.b_absent:
                out[self.env_b] = f.b
            return out

        return {
            "environments": [self.env_a, self.env_b],
            "differs": self.differs,
            "summary": {
                "differ": self.count("differs"),
                "same": self.count("same"),
                f"onlyIn_{self.env_a}": self.count("only-a"),
                f"onlyIn_{self.env_b}": self.count("only-b"),
            },
            "resources": [
                {
                    "address": r.address,
                    "kind": r.kind,
                    "name": r.name,
                    "source": r.source,
                    "status": _status_word(r.status, self.env_a, self.env_b),
                    "fields": [
                        {"path": f.path, "sensitive": f.sensitive, "values": values(f)}
                        for f in r.fields
                    ],
                }
                for r in self.resources
            ],
        }


def _status_word(status: str, a: str, b: str) -> str:
    return {"only-a": f"only in {a}", "only-b": f"only in {b}"}.get(status, status)


def diff_environments(
    resources_a: Sequence[Resource], resources_b: Sequence[Resource], env_a: str, env_b: str
) -> EnvDiff:
    by_a = {r.address: r for r in resources_a}
    by_b = {r.address: r for r in resources_b}
    out: list[ResourceDiff] = []
    for address in sorted(by_a.keys() | by_b.keys()):
        ra, rb = by_a.get(address), by_b.get(address)
        some = ra or rb
        assert some is not None
        if ra is None or rb is None:
            status = "only-b" if ra is None else "only-a"
            fields: tuple[FieldDiff, ...] = ()
        else:
            fields = tuple(_diff_fields(ra.spec, rb.spec))
            if ra.protect != rb.protect:  # cannot differ today; shown if overrides ever allow it
                fields = (FieldDiff("protect", ra.protect, rb.protect), *fields)
            status = "differs" if fields else "same"
        out.append(ResourceDiff(address, some.kind, some.name, status, fields, some.source))
    return EnvDiff(env_a, env_b, tuple(out))


_MISSING = object()


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from _leaves(child, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list) and value:
        for i, child in enumerate(value):
            yield from _leaves(child, f"{path}[{i}]")
    else:
        yield path, value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Sensitive) and isinstance(b, Sensitive):
        return a.source == b.source and a == b
    if isinstance(a, Sensitive) or isinstance(b, Sensitive):
        return False
    return type(a) is type(b) and a == b


def _diff_fields(spec_a: dict[str, Any], spec_b: dict[str, Any]) -> Iterator[FieldDiff]:
    leaves_a = dict(_leaves(spec_a))
    leaves_b = dict(_leaves(spec_b))
    paths = list(leaves_a) + [p for p in leaves_b if p not in leaves_a]
    for path in paths:
        a = leaves_a.get(path, _MISSING)
        b = leaves_b.get(path, _MISSING)
        if a is not _MISSING and b is not _MISSING and _same(a, b):
            continue
        sensitive = isinstance(a, Sensitive) or isinstance(b, Sensitive)
        yield FieldDiff(
            path,
            None if a is _MISSING else (MASK if sensitive else a),
            None if b is _MISSING else (MASK if sensitive else b),
            a_absent=a is _MISSING,
            b_absent=b is _MISSING,
            sensitive=sensitive,
        )


def _show(value: Any, absent: bool) -> str:
    if absent:
        return ABSENT
    if isinstance(value, str) and "\n" in value.strip():
        return f"(text, {len(value.strip().splitlines())} lines)"
    return json.dumps(value, ensure_ascii=False)


def diff_text(diff: EnvDiff) -> str:
    """One block per resource that differs; identical resources in one line at the end."""
    a, b = diff.env_a, diff.env_b
    lines = [f"Rendered config: {a} -> {b}", ""]
    for r in diff.resources:
        where = f" ({r.source})" if r.source else ""
        if r.status == "only-a":
            lines.append(f"- {r.address}{where}: only in {a}")
        elif r.status == "only-b":
            lines.append(f"+ {r.address}{where}: only in {b}")
        elif r.status == "differs":
            lines.append(f"~ {r.address}{where}")
            for f in r.fields:
                if f.sensitive and not (f.a_absent or f.b_absent):
                    lines.append(f"    {f.path}: {SENSITIVE_DIFFERS}")
                else:
                    shown_a, shown_b = _show(f.a, f.a_absent), _show(f.b, f.b_absent)
                    lines.append(f"    {f.path}: {shown_a} -> {shown_b}")
    same = [r.address for r in diff.resources if r.status == "same"]
    if same:
        lines.append(f"  identical: {', '.join(same)}")
    if not diff.resources:
        lines.append("No resources in either environment.")
    lines += [
        "",
        f"{diff.count('differs')} differ, {diff.count('same')} identical, "
        f"{diff.count('only-a')} only in {a}, {diff.count('only-b')} only in {b}.",
    ]
    return "\n".join(lines) + "\n"


def diff_json(diff: EnvDiff) -> str:
    return json.dumps(diff.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


__all__ = ["EnvDiff", "FieldDiff", "ResourceDiff", "diff_environments", "diff_json", "diff_text"]
