"""The drift report: what changed remotely since the last apply, as text, JSON or markdown.

The report is read off a refreshed Plan: a resource's `drift` (remote differs from what
state recorded) and the resources in state that the refresh found gone. Never prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from sigmaform import invocation
from sigmaform.diff import MISSING
from sigmaform.markdown import html_text, table_code
from sigmaform.plan import Action, FieldChange, Plan, ResourcePlan
from sigmaform.render import (
    _change_lines,
    _md_block,
    _paint,
    duplicate_lines,
    duplicate_markdown,
)
from sigmaform.state import State

DRIFT_FORMAT_VERSION = 1
GONE_NOTE_ADOPTED = "gone from the workspace: sigmaform cannot create it; restore it in SigmaMind"

Status = Literal["changed", "gone"]


@dataclass(frozen=True)
class DriftEntry:
    """One managed resource that no longer matches what sigmaform last applied."""

    plan: ResourcePlan
    id: str | None
    status: Status

    @property
    def changes(self) -> tuple[FieldChange, ...]:
        return self.plan.drift


@dataclass(frozen=True)
class DriftReport:
    plan: Plan
    checked: int  # managed resources that were read from the API
    entries: tuple[DriftEntry, ...]

    @property
    def has_drift(self) -> bool:
        """Drift, or unmanaged agents named like managed ones (the trace of a race)."""
        return bool(self.entries or self.plan.possible_duplicates)

    @property
    def duplicates(self) -> int:
        return len(self.plan.possible_duplicates)

    def count(self, status: Status) -> int:
        return sum(1 for e in self.entries if e.status == status)

    def summary_line(self) -> str:
        unchanged = self.checked - len(self.entries)
        line = (
            f"Drift: {self.count('changed')} changed outside sigmaform, "
            f"{self.count('gone')} deleted outside sigmaform, {unchanged} unchanged"
        )
        if self.duplicates:
            plural = "s" if self.duplicates > 1 else ""
            line += f"; {self.duplicates} possible duplicate{plural}"
        return line + "."


def drift_report(plan: Plan, state: State) -> DriftReport:
    """The drift in a refreshed plan, for the resources that `state` manages."""
    entries: list[DriftEntry] = []
    checked = 0
    for rp in plan.resources:
        recorded = state.resources.get(rp.address)
        if recorded is None or rp.action is Action.DELETE:
            continue  # never applied (nothing to drift from) or no longer in the files
        checked += 1
        if rp.action is Action.CREATE:
            entries.append(DriftEntry(rp, recorded.id, "gone"))
        elif rp.drift:
            entries.append(DriftEntry(rp, recorded.id, "changed"))
    return DriftReport(plan, checked, tuple(entries))


def _gone_note(entry: DriftEntry) -> str:
    if entry.plan.kind_info.creatable:
        return f"deleted outside sigmaform: `{invocation.command('apply')}` will create it again"
    return GONE_NOTE_ADOPTED


def _title(entry: DriftEntry) -> str:
    ident = f", id {entry.id}" if entry.id else ""
    return f"{entry.plan.address}  ({entry.plan.kind}{ident})"


def drift_text(report: DriftReport, *, color: bool = False) -> str:
    """Per resource, each drifted field as `last applied -> remote now`."""
    plan = report.plan
    noun = "resource" if report.checked == 1 else "resources"
    out = [f"Environment: {plan.environment}  ({report.checked} managed {noun} read)"]
    if not report.checked:
        out += ["", "Nothing is managed yet in this environment: no drift possible."]
    elif not report.entries and not report.duplicates:
        out += ["", "No drift. The remote matches what sigmaform last applied."]
    elif report.entries:
        out += ["", _paint("Changed outside sigmaform (last applied -> remote now):", "!", color)]
        for entry in report.entries:
            out.append(f"  {_paint('!', '!', color)} {_title(entry)}")
            if entry.status == "gone":
                out.append("      " + _gone_note(entry))
            for change in entry.changes:
                for line in _change_lines(plan, entry.plan, change, color, creating=False):
                    out.append("      " + line)
    out += duplicate_lines(plan, color)
    out.append("")
    out.append(_paint(report.summary_line(), "bold", color))
    if report.has_drift:
        out.append(
            f"Run `{invocation.command('plan')}` to review, `{invocation.command('apply')}` "
            "to restore the files' values."
        )
    return "\n".join(out) + "\n"


def _change_dict(change: FieldChange) -> dict[str, Any]:
    data = change.to_dict()
    if change.details:
        data["details"] = [
            {
                k: v
                for k, v in (("path", d.path), ("before", d.before), ("after", d.after))
                if v is not MISSING
            }
            for d in change.details
        ]
    return data


def drift_dict(report: DriftReport) -> dict[str, Any]:
    """The JSON form, documented by schemas/drift.schema.json."""
    plan = report.plan
    return {
        "formatVersion": DRIFT_FORMAT_VERSION,
        "environment": plan.environment,
        "lineage": plan.lineage,
        "serial": plan.serial,
        "checked": report.checked,
        "summary": {
            "changed": report.count("changed"),
            "gone": report.count("gone"),
            "unchanged": report.checked - len(report.entries),
            "possibleDuplicates": report.duplicates,
        },
        "possibleDuplicates": [d.to_dict() for d in plan.possible_duplicates],
        "resources": [
            {
                "address": e.plan.address,
                "kind": e.plan.kind,
                "name": e.plan.name,
                "id": e.id,
                "status": e.status,
                "changes": [_change_dict(c) for c in e.changes],
            }
            for e in report.entries
        ],
    }


def drift_json(report: DriftReport) -> str:
    return json.dumps(drift_dict(report), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def drift_markdown(report: DriftReport) -> str:
    """For an issue or a CI summary: a table of drifted resources, one block each."""
    plan = report.plan
    out = [f"### sigmaform drift: `{plan.environment}`", "", f"**{report.summary_line()}**", ""]
    out += duplicate_markdown(plan)
    if not report.entries and not report.duplicates:
        return "\n".join([*out, "No drift. The remote matches what sigmaform last applied.", ""])
    if not report.entries:
        return "\n".join(out)
    out += ["| resource | id | status | fields |", "|---|---|---|---|"]
    for e in report.entries:
        what = "changed outside sigmaform" if e.status == "changed" else "deleted outside sigmaform"
        out.append(
            f"| {table_code(e.plan.address)} | {table_code(str(e.id))} | {what} "
            f"| {len(e.changes)} |"
        )
    out.append("")
    for e in report.entries:
        out += [f"<details><summary><code>{html_text(e.plan.address)}</code></summary>", ""]
        if e.status == "gone":
            out += [f"- {_gone_note(e)}", ""]
        out += [*_md_block(plan, e.plan, e.changes), "</details>", ""]
    return "\n".join(out)


def render_drift(report: DriftReport, fmt: str, *, color: bool = False) -> str:
    if fmt == "json":
        return drift_json(report)
    if fmt == "markdown":
        return drift_markdown(report)
    return drift_text(report, color=color)
