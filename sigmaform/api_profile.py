"""What `sigmaform doctor` found about the vendor API, and the one place each finding is honoured.

The docs leave parts of the API open (sigmamind-api.md section 4, design.md section 9).
Doctor checks each assumption against the account and writes the findings to
`.sigmaform/api-profile/ENV.json` (no key, no secret). Everything else asks this module:

* `settings-patch` replace: apply sends the whole `agentSettings` (`write_units`).
* `list-items` partial: refresh reads agents one by one (`whole_list_items`).
* `create-names` update: agent creates keep the Update/GET names (`create_body`).
* `agent-delete` absent: plans that delete an agent are refused (`check_plan`).
* The rest (paging, phone-number field, secrets echoed, webhook ids, test-case paths)
  sigmaform already handles either way; doctor reports them.

With no profile file every assumption is taken to hold, as before doctor existed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigmaform.errors import RefusedError
from sigmaform.kinds import KINDS, to_create_names

PROFILE_DIR = Path(".sigmaform") / "api-profile"
HOLDS, DIFFERS, UNKNOWN = "holds", "differs", "unknown"


@dataclass(frozen=True)
class Assumption:
    id: str
    statement: str  # what sigmaform assumes
    if_differs: str  # what sigmaform does when it does not hold


ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption("api-key", "the API key is accepted", "nothing can work: fix the key"),
    Assumption(
        "workspace",
        "the workspace shows on webhook objects (workspaceId)",
        "the wrong-workspace check relies on missing resources instead",
    ),
    Assumption(
        "list-paging",
        "lists answer {data, page, size, hasNext/totalPages}",
        "the client follows hasNext, totalPages or a short page, and takes a bare array whole",
    ),
    Assumption(
        "list-items",
        "the agent list returns whole agents",
        "refresh reads each agent on its own",
    ),
    Assumption(
        "phone-number-field",
        "phone numbers come back as sipPhoneNumber",
        "sigmaform accepts phoneNumber and sipPhoneNumber alike",
    ),
    Assumption(
        "chat-shape",
        "chats come back with chatId and an agent summary {agentId}",
        "chats are matched by chatId and agentId wherever they appear",
    ),
    Assumption(
        "create-names",
        "agent create takes the Create page's post-conversation names (...Insights)",
        "agent creates send the Update/GET page's names",
    ),
    Assumption(
        "webhook-id-kept",
        "a webhook keeps its webhookId when the webhooks array is PATCHed with it",
        "state records the new ids from every response; webhooks are matched by name",
    ),
    Assumption(
        "webhook-secret-echoed",
        "webhook secrets are echoed in responses",
        "a secret the server does not echo is taken to hold what was declared",
    ),
    Assumption(
        "settings-patch",
        "a one-key agentSettings PATCH merges into the stored settings",
        "apply sends the whole agentSettings in one PATCH",
    ),
    Assumption(
        "test-case-paths",
        "test cases: POST /v1/test-cases, PUT and DELETE /v1/test-cases/{id}?agentId=",
        "test cases are not managed yet; the finding is kept for when they are",
    ),
    Assumption(
        "agent-delete",
        "DELETE /v1/agents/{id} removes an agent",
        "plan and apply refuse to delete agents; remove them in the SigmaMind dashboard",
    ),
)
BY_ID: dict[str, Assumption] = {a.id: a for a in ASSUMPTIONS}


@dataclass(frozen=True)
class Finding:
    id: str
    verdict: str  # holds | differs | unknown
    seen: str  # what was observed, in words (no secrets)
    value: str = ""  # the machine-readable reading, e.g. "replace", "partial", "update"

    @property
    def action(self) -> str:
        """What sigmaform does about it."""
        assumption = BY_ID[self.id]
        if self.verdict == DIFFERS:
            return assumption.if_differs
        if self.verdict == UNKNOWN:
            return "assumed to hold"
        return "nothing to adapt"


@dataclass(frozen=True)
class ApiProfile:
    """The findings for one environment; a missing finding is taken to hold."""

    findings: Mapping[str, Finding] = field(default_factory=dict)

    def _value(self, finding_id: str) -> str:
        found = self.findings.get(finding_id)
        return found.value if found is not None and found.verdict == DIFFERS else ""

    @property
    def replaces_settings(self) -> bool:
        return self._value("settings-patch") == "replace"

    @property
    def whole_list_items(self) -> bool:
        return self._value("list-items") != "partial"

    @property
    def agent_delete_absent(self) -> bool:
        return self._value("agent-delete") != ""

    def create_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """An agent create body in the names this server takes on create."""
        if self._value("create-names") == "update":
            return body
        return to_create_names(body)

    def write_units(self, kind: str, units: Sequence[tuple[str, ...]]) -> list[tuple[str, ...]]:
        """The spec units to send: with a replacing server, any `agentSettings.*` unit
        becomes the whole `agentSettings`, so one PATCH carries every declared setting."""
        merged = KINDS[kind].merged_objects
        if not merged or not self.replaces_settings:
            return list(units)
        out: list[tuple[str, ...]] = []
        for unit in units:
            unit = unit[:1] if unit[0] in merged else unit
            if unit not in out:
                out.append(unit)
        return out

    def check_plan(self, plan: Any, environment: str) -> None:
        """Refuse (exit 3) what the server cannot do: deleting an agent without DELETE."""
        if not self.agent_delete_absent:
            return
        doomed = [
            r.address
            for r in plan.resources
            if r.kind == "Agent" and r.action.value == "delete" and r.id
        ]
        if doomed:
            seen = self.findings["agent-delete"].seen
            raise RefusedError(
                f"refusing to delete {', '.join(doomed)}: `sigmaform doctor` found that"
                f" environment `{environment}` has no agent DELETE (agent-delete: {seen}). "
                "Delete the agents in the SigmaMind dashboard, then stop managing them with "
                "`sigmaform state rm`"
            )

    def to_json(self, environment: str, checked_at: str) -> dict[str, Any]:
        return {
            "environment": environment,
            "checkedAt": checked_at,
            "findings": {
                f.id: {"verdict": f.verdict, "seen": f.seen, "value": f.value}
                for f in self.findings.values()
            },
        }


def profile_path(project_root: Path, environment: str) -> Path:
    return project_root / PROFILE_DIR / f"{environment}.json"


def load_profile(project_root: Path, environment: str) -> ApiProfile:
    """The environment's profile; an absent or unreadable file means "assume everything"."""
    path = profile_path(project_root, environment)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ApiProfile()
    items = raw.get("findings") if isinstance(raw, dict) else None
    findings: dict[str, Finding] = {}
    for key, item in (items or {}).items():
        if key in BY_ID and isinstance(item, dict):
            findings[key] = Finding(
                key, str(item.get("verdict")), str(item.get("seen", "")), str(item.get("value", ""))
            )
    return ApiProfile(findings)


def merged(old: ApiProfile, new: Sequence[Finding]) -> ApiProfile:
    """`old` updated with what this run learnt; an `unknown` now keeps the earlier finding."""
    findings = dict(old.findings)
    for finding in new:
        if finding.verdict != UNKNOWN or finding.id not in findings:
            findings[finding.id] = finding
    return ApiProfile(findings)


def profile_of(client: Any) -> ApiProfile:
    """The profile a client was opened with (a client without one assumes everything)."""
    profile = getattr(client, "profile", None)
    return profile if isinstance(profile, ApiProfile) else ApiProfile()
