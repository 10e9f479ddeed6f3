"""A saved plan authorises an apply; it never instructs one.

`apply PLANFILE` recomputes the plan from state and the files (and the remote, when the
saved plan was refreshed), and proceeds only when the saved plan shows exactly what the
recomputed one would do: the same resources, actions, ids and changed fields with the
same new values. What runs is the recomputed plan, so ids come only from state and values
only from the files: an edited plan file can refuse an apply, never steer one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sigmaform.diff import MISSING
from sigmaform.errors import ConfigError, Problem, StalePlanError
from sigmaform.files import JsonPath, Mark
from sigmaform.jsonfile import read_json_file
from sigmaform.plan import PLAN_FORMAT_VERSION, FieldChange, Plan, ResourcePlan
from sigmaform.schemacheck import check_instance

PLAN_SCHEMA = "plan.schema.json"
MAX_SHOWN = 10  # differences listed before the rest are counted


def _nowhere(_: JsonPath, __: bool) -> Mark:
    return Mark(0, 0)  # JSON values carry no positions; the path names the place


def read_plan_file(path: Path) -> Plan:
    """A plan file (`plan --out`), checked against the plan schema; ConfigError otherwise."""
    source = str(path)
    try:
        data = read_json_file(path, source)
    except FileNotFoundError:
        raise ConfigError(Problem(source, message="plan file not found")) from None
    if not isinstance(data, dict) or data.get("formatVersion") != PLAN_FORMAT_VERSION:
        message = f"not a sigmaform plan file (formatVersion {PLAN_FORMAT_VERSION})"
        raise ConfigError(Problem(source, message=message))
    problems = check_instance(data, PLAN_SCHEMA, file=source, locate=_nowhere)
    if problems:
        raise ConfigError(
            [Problem(source, path=p.path, message=f"damaged plan: {p.message}") for p in problems]
        )
    return Plan.from_dict(data, source)


def authorise(saved: Plan, fresh: Plan) -> None:
    """Refuse (exit 3) unless `saved` shows exactly what `fresh` (recomputed) would do."""
    differences = list(plan_differences(saved, fresh))
    if not differences:
        return
    shown = differences[:MAX_SHOWN]
    if len(differences) > MAX_SHOWN:
        shown.append(f"... and {len(differences) - MAX_SHOWN} more")
    raise StalePlanError(
        "the plan file does not match the plan recomputed from state and the files, "
        "so it does not authorise this apply (nothing was sent): "
        + "; ".join(shown)
        + ". Run `sigmaform plan --out` again and review that plan"
    )


def plan_differences(saved: Plan, fresh: Plan) -> Iterator[str]:
    """Each way the saved plan differs from the recomputed one, as address: what."""
    ours = {r.address: r for r in saved.resources}
    theirs = {r.address: r for r in fresh.resources}
    for address in sorted(ours.keys() | theirs.keys()):
        a, b = ours.get(address), theirs.get(address)
        if b is None:
            yield f"{address}: in the plan file, but not a resource of state or the files"
        elif a is None:
            yield f"{address}: missing from the plan file ({b.action.value} recomputed)"
        else:
            yield from _resource_differences(address, a, b)


def _resource_differences(address: str, saved: ResourcePlan, fresh: ResourcePlan) -> Iterator[str]:
    if saved.kind != fresh.kind:
        yield f"{address}: kind {saved.kind} in the plan file, {fresh.kind} recomputed"
    if saved.action is not fresh.action:
        yield (
            f"{address}: action {saved.action.value} in the plan file, "
            f"{fresh.action.value} recomputed"
        )
    if saved.id != fresh.id:
        yield f"{address}: id {_show(saved.id)} in the plan file, {_show(fresh.id)} recomputed"
    if saved.moved_from != fresh.moved_from:
        yield (
            f"{address}: moved from {_show(saved.moved_from)} in the plan file, "
            f"from {_show(fresh.moved_from)} recomputed"
        )
    if saved.protect != fresh.protect:
        yield f"{address}: protect {saved.protect} in the plan file, {fresh.protect} recomputed"
    ours, theirs = _by_path(saved.changes), _by_path(fresh.changes)
    for path in sorted(ours.keys() | theirs.keys()):
        a, b = ours.get(path), theirs.get(path)
        if b is None:
            yield f"{address}: field {path} changes in the plan file, not when recomputed"
        elif a is None:
            yield f"{address}: field {path} changes when recomputed, not in the plan file"
        elif _after(a) != _after(b) or a.sensitive != b.sensitive:
            yield f"{address}: field {path} has another new value in the plan file"


def _by_path(changes: tuple[FieldChange, ...]) -> Mapping[str, FieldChange]:
    return {c.path: c for c in changes}


def _after(change: FieldChange) -> str | None:
    """The new value as the plan file holds it (masked), comparable across a JSON trip."""
    if change.after is MISSING:
        return None
    return json.dumps(change.after, sort_keys=True, ensure_ascii=False, default=str)


def _show(value: Any) -> str:
    return "none" if value is None else json.dumps(value, ensure_ascii=True)
