"""`apply --format json`: one JSON object per line, as schemas/apply-event.schema.json says.

A `plan` event, then a `resource` event as each resource finishes, then a `summary`:
a CI job can stream them (`jq -c 'select(.outcome == "failed")'`) while apply runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sigmaform.apply import Outcome
from sigmaform.plan import Plan

EVENT_FORMAT_VERSION = 1


def _line(event: dict[str, Any]) -> str:
    # One object per line: no indentation; sorted keys keep the output stable.
    return json.dumps(event, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def plan_event(plan: Plan) -> str:
    return _line(
        {
            "type": "plan",
            "formatVersion": EVENT_FORMAT_VERSION,
            "environment": plan.environment,
            "pending": len(plan.pending()),
            "summary": plan.summary.to_dict(),
        }
    )


def resource_event(outcome: Outcome) -> str:
    event: dict[str, Any] = {
        "type": "resource",
        "formatVersion": EVENT_FORMAT_VERSION,
        "address": outcome.address,
        "action": outcome.action.value,
        "id": outcome.id,
        "outcome": outcome.status,
    }
    if outcome.message:
        event["error" if outcome.failed else "message"] = outcome.message
    return _line(event)


def summary_event(environment: str, outcomes: Sequence[Outcome] | None, *, cancelled: bool) -> str:
    """The last line: `cancelled` when the prompt was declined, `no-changes` when nothing ran."""
    counts: dict[str, int] = {}
    for outcome in outcomes or ():
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    failed = [o.address for o in outcomes or () if o.failed]
    if cancelled:
        result = "cancelled"
    elif outcomes is None or not outcomes:
        result = "no-changes"
    else:
        result = "failed" if failed else "applied"
    return _line(
        {
            "type": "summary",
            "formatVersion": EVENT_FORMAT_VERSION,
            "environment": environment,
            "outcome": result,
            "counts": dict(sorted(counts.items())),
            "failed": failed,
        }
    )
