"""Plan and apply results as text, JSON or markdown strings. Never prints."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from sigmaform.diff import MISSING, Detail
from sigmaform.graph import plan_graph, to_mermaid
from sigmaform.markdown import code_block, code_span, html_text, plain_text, table_code
from sigmaform.plan import KNOWN_AFTER_APPLY, Action, Effect, FieldChange, Plan, ResourcePlan
from sigmaform.sensitive import MASK
from sigmaform.state_blobs import TextRef, materialize

SYMBOL = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.DELETE: "-",
    Action.NOOP: " ",
    Action.MOVE: ">",
    Action.FORGET: "-",
}
_COLOR = {"+": "32", "~": "33", "-": "31", ">": "35", "!": "36", "dim": "2", "bold": "1"}
LONG_TEXT = 80  # strings longer than this, or with newlines, are shown as a line diff


def _paint(text: str, style: str, color: bool) -> str:
    return f"\x1b[{_COLOR[style]}m{text}\x1b[0m" if color else text


def _value(value: Any) -> str:
    if value is MISSING:
        return "(none)"
    if value == MASK:
        return MASK
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _is_long(value: Any) -> bool:
    return isinstance(value, str) and value != MASK and ("\n" in value or len(value) > LONG_TEXT)


def _text_diff(before: Any, after: Any) -> list[str]:
    import difflib  # here: a plan with no changed text never needs it

    old = before.splitlines() if isinstance(before, str) else []
    new = after.splitlines() if isinstance(after, str) else []
    lines = list(difflib.unified_diff(old, new, lineterm="", n=2))
    return lines[2:]  # drop the ---/+++ header: the field name says what it is


def _reference_note(plan: Plan, rp: ResourcePlan, change: FieldChange) -> str:
    return f"  {KNOWN_AFTER_APPLY}" if plan.known_after_apply(rp, change) else ""


def _detail_line(detail: Detail) -> str:
    if detail.before == MASK and detail.after == MASK:
        return f"{detail.path}: (sensitive, changed)"
    if detail.before is MISSING:
        return f"{detail.path}: + {_value(detail.after)}"
    if detail.after is MISSING:
        return f"{detail.path}: - {_value(detail.before)}"
    return f"{detail.path}: {_value(detail.before)} -> {_value(detail.after)}"


def _readable(change: FieldChange) -> FieldChange:
    """`change` with a text held by digest (apply's lazily loaded `!file`) read, to show it
    (one change at a time: the plan itself keeps only the digest)."""
    if isinstance(change.before, TextRef) or isinstance(change.after, TextRef):
        return replace(change, before=materialize(change.before), after=materialize(change.after))
    return change


def _change_lines(
    plan: Plan, rp: ResourcePlan, change: FieldChange, color: bool, creating: bool
) -> list[str]:
    change = _readable(change)
    if change.sensitive and not isinstance(change.after, (list, dict)):
        shown = MASK if creating else "(sensitive, changed)"
        return [f"{change.path}: {shown}"]
    if _is_long(change.before) or _is_long(change.after):
        lines = [f"{change.path}:"]
        for line in _text_diff(change.before, change.after):
            style = "+" if line.startswith("+") else "-" if line.startswith("-") else "dim"
            lines.append("  " + _paint(line, style, color))
        return lines
    if creating and isinstance(change.after, (list, dict)) and change.after:
        # Structured values (tools, webhooks) read better one item per line.
        text = json.dumps(change.after, ensure_ascii=False, sort_keys=True, indent=2)
        return [f"{change.path}:"] + ["  " + line for line in text.splitlines()]
    if creating:
        return [f"{change.path}: {_value(change.after)}{_reference_note(plan, rp, change)}"]
    note = _reference_note(plan, rp, change)
    if not plan.writes(rp, change):
        # An adoption lists every declared field; this one already holds the value.
        return [f"{change.path}: {_value(change.after)} (unchanged)"]
    if change.details:
        return [f"{change.path}:"] + ["  " + _detail_line(d) for d in change.details]
    return [f"{change.path}: {_value(change.before)} -> {_value(change.after)}{note}"]


def _is_creating(rp: ResourcePlan, change: FieldChange) -> bool:
    """Shown as a new value only: a create, or an adoption whose current value is unknown."""
    return rp.action is Action.CREATE and change.before is MISSING


def _header(plan: Plan, rp: ResourcePlan) -> str:
    effect = plan.effect(rp)
    what = {
        Effect.CREATE: "create",
        Effect.ADOPT: "adopt" if not rp.kind_info.creatable else "recover",
        Effect.UPDATE: "update",
        Effect.MOVE: "move",
        Effect.DELETE: "delete",
        Effect.FORGET: "forget: left remotely, removed from state",
        Effect.SKIPPED: "delete skipped: needs --allow-delete",
        Effect.PROTECTED: "protected: not deleted",
        Effect.NOOP: "no changes",
    }[effect]
    # A creatable kind planned for create with an id is a recovered create: show which.
    shown = rp.action is not Action.CREATE or rp.kind_info.creatable
    ident = f", id {rp.id}" if rp.id and shown else ""
    if rp.moved_from:
        moved = f"{rp.moved_from} -> {rp.address} (moved)"
        return moved if rp.action is Action.MOVE else f"{moved}  ({what}{ident})"
    return f"{rp.address}  ({what}{ident})"


DUPLICATES_TITLE = (
    "Possible duplicates (not managed, named like a managed agent; remove them in "
    "SigmaMind or `sigmaform import` them):"
)


def duplicate_lines(plan: Plan, color: bool = False) -> list[str]:
    """The possible-duplicates block of a text plan or drift report ([] when none)."""
    if not plan.possible_duplicates:
        return []
    out = ["", _paint(DUPLICATES_TITLE, "!", color)]
    for dup in plan.possible_duplicates:
        out.append(f"  {_paint('?', '!', color)} {dup.line()}  ({_value(dup.agent_name)})")
    return out


def duplicate_markdown(plan: Plan) -> list[str]:
    if not plan.possible_duplicates:
        return []
    out = [f"**{DUPLICATES_TITLE}**", "", "| managed | possible duplicate | agentName |"]
    out.append("|---|---|---|")
    for dup in plan.possible_duplicates:
        # Server values: in code spans that no backtick in them can break out of.
        row = (table_code(dup.address), table_code(dup.id), table_code(dup.agent_name))
        out.append("| " + " | ".join(row) + " |")
    return [*out, ""]


def plan_text(plan: Plan, *, color: bool = False) -> str:
    """The human plan: drift first, then one block per changing resource, then a summary."""
    return "".join(plan_text_blocks(plan, color=color))


def plan_text_blocks(plan: Plan, *, color: bool = False) -> Iterator[str]:
    """`plan_text` a block at a time (each ends with a newline), so that a plan creating
    10,000 agents, prompts and all, is printed without first being held as one string."""
    out: list[str] = []
    state = "refreshed from the API" if plan.refreshed else "from state only (--no-refresh)"
    if plan.destroy:
        state = "destroy: every managed resource is deleted or forgotten"
    out.append(f"Environment: {plan.environment}  ({state})")
    drifted = [r for r in plan.resources if r.drift]
    if drifted:
        out.append("")
        out.append(_paint("Changed outside sigmaform (will be restored on apply):", "!", color))
        for rp in drifted:
            out.append(f"  {_paint('!', '!', color)} {rp.address}")
            for change in rp.drift:
                for line in _change_lines(plan, rp, change, color, creating=False):
                    out.append("      " + line)
    out += duplicate_lines(plan, color)
    pending = plan.pending()
    if pending:
        out.append("")
    for rp in pending:
        symbol = SYMBOL[rp.action]
        out.append(f"  {_paint(symbol, symbol, color)} {_header(plan, rp)}")
        for change in rp.changes:
            for line in _change_lines(plan, rp, change, color, _is_creating(rp, change)):
                out.append("      " + line)
        for note in rp.notes:
            out.append("      " + _paint(f"note: {note}", "dim", color))
        yield "\n".join(out) + "\n"
        out = []
    out += _released_lines(plan)
    left = [rp for rp in plan.resources if rp.action is Action.NOOP and rp.notes]
    if left:
        out += ["", "Left alone:"]
        out += [f"    {rp.address}: {note}" for rp in left for note in rp.notes]
    out.append("")
    if not plan.has_changes:
        out.append(_nothing_to_send(bool(left)))
    out.append(_paint(plan.summary.line(), "bold", color))
    yield "\n".join(out) + "\n"


def _nothing_to_send(left_alone: bool) -> str:
    # A resource the API no longer lets us change (an ended chat) still differs from its
    # file: "remote matches" would be a lie the user acts on.
    if left_alone:
        return "No changes to send. The resources left alone still differ from the configuration."
    return "No changes. Remote matches the configuration."


def _released_lines(plan: Plan) -> list[str]:
    """Its own section: fields removed from YAML that stop being managed, and their values."""
    released = [rp for rp in plan.resources if rp.unmanaged]
    if not released:
        return []
    out = ["", "No longer managed (removed from YAML; the remote value stays as it is):"]
    for rp in released:
        out.append(f"    {rp.address}")
        kept = {c.path: c for c in rp.kept}
        for path in rp.unmanaged:
            change = kept.get(path)
            if change is None:
                out.append(f"      {path}: no longer managed")
            elif change.sensitive:
                out.append(f"      {path}: {MASK} (stays)")
            elif _is_long(change.before):
                lines = len(str(change.before).splitlines())
                out.append(f"      {path}: (text, {lines} line(s)) (stays)")
            else:
                out.append(f"      {path}: {_value(change.before)} (stays)")
    return out


def plan_json(plan: Plan) -> str:
    data = plan.to_dict()
    for rp_data, rp in zip(data["resources"], plan.resources, strict=True):
        for key, changes in (("changes", rp.changes), ("drift", rp.drift)):
            for change_data, change in zip(rp_data[key], changes, strict=True):
                if change.details:
                    change_data["details"] = [
                        {
                            k: v
                            for k, v in (
                                ("path", d.path),
                                ("before", d.before),
                                ("after", d.after),
                            )
                            if v is not MISSING
                        }
                        for d in change.details
                    ]
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _md_cell(value: Any) -> str:
    shown = _value(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return table_code(shown)


def _md_block(plan: Plan, rp: ResourcePlan, changes: Iterable[FieldChange]) -> list[str]:
    rows: list[str] = []
    diffs: list[str] = []
    for change in map(_readable, changes):
        if change.sensitive and not isinstance(change.after, (list, dict)):
            rows.append(f"| {table_code(change.path)} | {MASK} | (sensitive, changed) |")
        elif _is_long(change.before) or _is_long(change.after):
            rows.append(f"| {table_code(change.path)} | (text) | (text, see diff) |")
            diffs += [f"{code_span(change.path)}:", ""]
            diffs += [*code_block(_text_diff(change.before, change.after), "diff"), ""]
        elif change.details:
            for d in change.details:
                before = "(sensitive)" if d.before == MASK else _md_cell(d.before)
                after = "(sensitive, changed)" if d.after == MASK else _md_cell(d.after)
                where = d.path if d.path.startswith("[") else "." + d.path
                rows.append(f"| {table_code(change.path + where)} | {before} | {after} |")
        else:
            note = _reference_note(plan, rp, change)
            rows.append(
                f"| {table_code(change.path)} | {_md_cell(change.before)} "
                f"| {_md_cell(change.after)}{note} |"
            )
    lines = []
    if rows:
        lines += ["| field | before | after |", "|---|---|---|", *rows, ""]
    return lines + diffs


def plan_markdown(plan: Plan) -> str:
    """For a pull-request comment: a summary table, one collapsible block per resource."""
    s = plan.summary
    out = [
        f"### sigmaform plan: `{plan.environment}`",
        "",
        f"**{s.line()}**" + (f" {s.drifted} changed outside sigmaform." if s.drifted else ""),
        "",
    ]
    out += duplicate_markdown(plan)
    pending = plan.pending()
    drifted = [r for r in plan.resources if r.drift]
    released = _released_lines(plan)
    kept = [*code_block(released[1:]), ""] if released else []
    left = [rp for rp in plan.resources if rp.action is Action.NOOP and rp.notes]
    left_lines = [
        "**Left alone:**",
        "",
        *(f"- {code_span(r.address)}: {plain_text(n)}" for r in left for n in r.notes),
    ]
    if left:
        left_lines.append("")
    else:
        left_lines = []
    if not pending and not drifted:
        text = _nothing_to_send(bool(left))
        return "\n".join([*out, text, "", *kept, *left_lines])
    out += ["| | resource | action | fields |", "|---|---|---|---|"]
    for rp in pending:
        out.append(
            f"| {SYMBOL[rp.action]} | {table_code(rp.address)} "
            f"| {plain_text(_header(plan, rp).rsplit('(', 1)[1].rstrip(')'))} "
            f"| {len(rp.changes)} |"
        )
    out.append("")
    out += _routing_lines(plan)
    if left:
        out += [*left_lines, ""]
    for rp in drifted:
        out += [
            f"<details><summary>⚠️ <code>{html_text(rp.address)}</code> changed outside "
            "sigmaform</summary>",
            "",
            *_md_block(plan, rp, rp.drift),
            "</details>",
            "",
        ]
    for rp in pending:
        out += [
            f"<details><summary><code>{html_text(SYMBOL[rp.action] + ' ' + _header(plan, rp))}"
            "</code></summary>",
            "",
            *_md_block(plan, rp, rp.changes),
            *[f"- note: {n}" for n in rp.notes],
            "</details>",
            "",
        ]
    return "\n".join(out + kept)


def _routing_lines(plan: Plan) -> list[str]:
    """A mermaid picture of what the plan touches and what routes to it (GitHub and GitLab
    draw it), so a reviewer sees which numbers reach a changed agent; none without edges."""
    graph = plan_graph(plan)
    if not graph.edges:
        return []
    return [
        "<details><summary>Routing of the changed resources</summary>",
        "",
        *code_block(to_mermaid(graph).splitlines(), "mermaid"),
        "</details>",
        "",
    ]


def render_plan(plan: Plan, fmt: str, *, color: bool = False) -> str:
    if fmt == "json":
        return plan_json(plan)
    if fmt == "markdown":
        return plan_markdown(plan)
    return plan_text(plan, color=color)


def render_plan_blocks(plan: Plan, fmt: str, *, color: bool = False) -> Iterator[str]:
    """`render_plan` in pieces to print one after another (text comes a block at a time)."""
    if fmt == "text":
        yield from plan_text_blocks(plan, color=color)
    else:
        yield render_plan(plan, fmt, color=color)
