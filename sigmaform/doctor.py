"""`sigmaform doctor`: check what sigmaform assumes about the vendor API against an account.

Read-only checks come first (key, workspace, list shape, phone-number and chat shapes).
With `write=True` a throwaway agent named `sigmaform-doctor-<random>` (and one test case)
probes what only a write can show. Whatever happens -- a failure, Ctrl-C -- they are
removed in a `finally`; one that cannot be removed is reported with its id, and the next
run with `write=True` finds it by its name prefix and removes it (a run killed outright).

The assumptions, their wording and what sigmaform does about each live in `api_profile`.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sigmaform.api_profile import DIFFERS, HOLDS, UNKNOWN, Finding
from sigmaform.errors import ApiError
from sigmaform.kinds import AGENT, TEST_CASE

if TYPE_CHECKING:  # httpx loads only when a command talks to the API
    from sigmaform.client import Client

PREFIX = "sigmaform-doctor-"
# The paths each kind module declares (kept there, in one place).
AGENTS = AGENT.path
TEST_CASES = TEST_CASE.path
_HOOK_URL = "https://example.com/sigmaform-doctor"
# Settings with values no server default would have: a replaced agentSettings shows.
_PROBE_SETTINGS: dict[str, Any] = {"maxCallDuration": 601, "ttsSpeed": 1.1}
_INSTRUCTIONS = "Throwaway agent created by `sigmaform doctor`; safe to delete."


@dataclass
class DoctorReport:
    findings: list[Finding] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # leftover agent ids removed this run
    # Objects doctor made (or found) and could not remove: (kind, id).
    leftovers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return any(f.verdict == DIFFERS for f in self.findings)


def _seg(value: str) -> str:
    return quote(value, safe="")


def _items(result: Any) -> list[dict[str, Any]]:
    """The items of a list answer, wrapped in `{data}` or bare."""
    raw = result.get("data") if isinstance(result, dict) else result
    return [i for i in raw if isinstance(i, dict)] if isinstance(raw, list) else []


class Doctor:
    """One doctor run against one client; `on_finding` hears each verdict as it is made."""

    def __init__(
        self,
        client: Client,
        *,
        write: bool,
        on_finding: Callable[[Finding], None] = lambda _: None,
    ) -> None:
        self.client = client
        self.write = write
        self.on_finding = on_finding
        self.report = DoctorReport()
        self._agents: list[str] = []  # throwaway agents made this run, oldest first
        # Creates sent whose answer never came back (Ctrl-C or a dropped response while the
        # POST was in flight): the agent may exist, known only by its name.
        self._unanswered: list[str] = []
        self._case: tuple[str, str] | None = None  # (test case id, agent id) while it exists

    def _found(self, finding_id: str, verdict: str, seen: str, value: str = "") -> None:
        finding = Finding(finding_id, verdict, seen, value)
        self.report.findings.append(finding)
        self.on_finding(finding)

    def _known(self, finding_id: str) -> bool:
        return any(f.id == finding_id and f.verdict != UNKNOWN for f in self.report.findings)

    # -- the run -----------------------------------------------------------------------

    def run(self) -> DoctorReport:
        listed = self._read_checks()
        leftovers = [a for a in listed if str(a.get("agentName", "")).startswith(PREFIX)]
        if not self.write:
            self._read_only_unknowns()
            self.report.leftovers += [("agent", str(a.get("agentId"))) for a in leftovers]
            return self.report
        for agent in leftovers:
            self._remove_leftover(str(agent.get("agentId")))
        try:
            self._write_checks()
        finally:
            self._clean_up()
        return self.report

    # -- read-only ---------------------------------------------------------------------

    def _read_checks(self) -> list[dict[str, Any]]:
        first = self.client.probe("GET", AGENTS, params={"page": 0, "size": 100})
        self._found("api-key", HOLDS, "the key was accepted")
        workspace = self.client.workspace_id()
        if workspace:
            self._found("workspace", HOLDS, f"workspace {workspace}", workspace)
        elif not self.write:
            self._found("workspace", UNKNOWN, "no webhook in the workspace shows it")
        self._paging(first)
        listed = self.client.list_agents()
        mine = [a for a in listed if not str(a.get("agentName", "")).startswith(PREFIX)]
        if mine and isinstance(mine[0].get("agentId"), str):
            self._list_items(mine[0])
        self._phone_numbers()
        self._chats()
        return listed

    def _paging(self, first: Any) -> None:
        if isinstance(first, list):
            self._found("list-paging", DIFFERS, "the agent list is a bare array", "array")
        elif isinstance(first, dict) and isinstance(first.get("data"), list):
            fields = [k for k in ("hasNext", "totalPages") if k in first]
            if fields:
                shown = ", ".join(["data", *fields])
                self._found("list-paging", HOLDS, f"a page object with {shown}", "paged")
            else:
                seen = "a page object without hasNext or totalPages"
                self._found("list-paging", DIFFERS, seen, "short-page")
        else:
            self._found("list-paging", UNKNOWN, "the agent list has an unexpected shape")

    def _list_items(self, listed: Mapping[str, Any]) -> None:
        whole = self.client.get_agent(str(listed["agentId"]))
        if whole is None:
            return
        missing = sorted(set(whole) - set(listed))
        if missing:
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            seen = f"list items lack {len(missing)} fields a GET has ({shown})"
            self._found("list-items", DIFFERS, seen, "partial")
        else:
            self._found("list-items", HOLDS, "list items carry every field a GET has", "whole")

    def _phone_numbers(self) -> None:
        page = {"page": 0, "size": 10}
        items = _items(self.client.probe("GET", "/v1/phone-numbers", params=page))
        if not items:
            self._found("phone-number-field", UNKNOWN, "the workspace has no phone numbers")
        elif "sipPhoneNumber" in items[0]:
            seen = "numbers carry sipPhoneNumber"
            self._found("phone-number-field", HOLDS, seen, "sipPhoneNumber")
        elif "phoneNumber" in items[0]:
            seen = "numbers carry phoneNumber, not sipPhoneNumber"
            self._found("phone-number-field", DIFFERS, seen, "phoneNumber")
        else:
            self._found("phone-number-field", DIFFERS, "numbers carry neither field", "neither")

    def _chats(self) -> None:
        items = _items(self.client.probe("GET", "/v1/chats", params={"page": 0, "size": 10}))
        if not items:
            self._found("chat-shape", UNKNOWN, "the workspace has no chats")
            return
        chat = items[0]
        agent = chat.get("agent")
        if "chatId" in chat and isinstance(agent, dict) and "agentId" in agent:
            self._found("chat-shape", HOLDS, "chats carry chatId and agent.agentId")
        else:
            seen = "chats carry " + ", ".join(sorted(chat)[:8])
            self._found("chat-shape", DIFFERS, seen, "other")

    def _read_only_unknowns(self) -> None:
        for finding_id in (
            "list-items",
            "create-names",
            "webhook-id-kept",
            "webhook-secret-echoed",
            "settings-patch",
            "test-case-paths",
            "agent-delete",
        ):
            if not self._known(finding_id):
                self._found(finding_id, UNKNOWN, "needs --write")

    # -- write -------------------------------------------------------------------------

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(body["agentName"])
        self._unanswered.append(name)
        created = self.client.probe("POST", AGENTS, body=body)
        agent_id = created.get("agentId") if isinstance(created, dict) else None
        if not isinstance(agent_id, str):
            raise ApiError("POST", AGENTS, None, "the create answer carries no agentId")
        self._agents.append(agent_id)
        self._unanswered.remove(name)
        return self._get(agent_id)

    def _get(self, agent_id: str) -> dict[str, Any]:
        got = self.client.probe("GET", f"{AGENTS}/{_seg(agent_id)}")
        if not isinstance(got, dict):
            raise ApiError("GET", AGENTS, None, "the server answered without an agent")
        return got

    def _write_checks(self) -> None:
        name = PREFIX + secrets.token_hex(4)
        hook = {
            "name": "sigmaform-doctor",
            "url": _HOOK_URL,
            "events": ["conversation_ended"],
            "secret": secrets.token_urlsafe(24),
        }
        analysis = {"insightName": "doctor", "dataType": "string"}
        settings = {
            **_PROBE_SETTINGS,
            "enablePostConversationInsights": True,
            "postConversationInsights": [{**analysis, "analysisInstructions": "probe"}],
            "webhooks": [hook],
        }
        body = {"agentName": name, "instructions": _INSTRUCTIONS, "agentSettings": settings}
        agent = self._create(body)
        agent_id = str(agent["agentId"])
        self._create_names(agent, name, analysis)
        if not self._known("workspace"):
            workspace = self.client.workspace_id()
            if workspace:
                self._found("workspace", HOLDS, f"workspace {workspace}", workspace)
            else:
                self._found("workspace", UNKNOWN, "no webhook shows workspaceId")
        if not self._known("list-items"):
            listed = [a for a in self.client.list_agents() if a.get("agentId") == agent_id]
            if listed:
                self._list_items(listed[0])
        hooks = agent.get("agentSettings", {}).get("webhooks") or []
        self._secret_echoed(hooks)
        self._webhook_id(agent_id, hooks, hook)
        self._settings_patch(agent_id)
        self._test_cases(agent_id)
        self._agent_delete(agent_id)

    def _create_names(self, agent: Mapping[str, Any], name: str, analysis: dict[str, Any]) -> None:
        if _analysis_kept(agent):
            self._found("create-names", HOLDS, "create kept the ...Insights names", "create")
            return
        # The Create page's names were dropped: does create take the Update/GET names?
        settings = {
            "enablePostConversationAnalysis": True,
            "postConversationAnalysis": [{**analysis, "insightInstructions": "probe"}],
        }
        other = self._create(
            {"agentName": name + "-b", "instructions": _INSTRUCTIONS, "agentSettings": settings}
        )
        if _analysis_kept(other):
            seen = "create dropped the ...Insights names and kept the ...Analysis ones"
            self._found("create-names", DIFFERS, seen, "update")
        else:
            seen = "create kept neither naming of post-conversation analysis"
            self._found("create-names", DIFFERS, seen, "neither")

    def _secret_echoed(self, hooks: list[Any]) -> None:
        if not hooks or not isinstance(hooks[0], dict):
            self._found("webhook-secret-echoed", UNKNOWN, "the created webhook was not returned")
        elif hooks[0].get("secret"):
            self._found("webhook-secret-echoed", HOLDS, "the secret comes back", "echoed")
        else:
            seen = "the secret is not returned"
            self._found("webhook-secret-echoed", DIFFERS, seen, "hidden")

    def _webhook_id(self, agent_id: str, hooks: list[Any], sent: dict[str, Any]) -> None:
        first = hooks[0] if hooks and isinstance(hooks[0], dict) else {}
        webhook_id = first.get("webhookId")
        if not isinstance(webhook_id, str):
            self._found("webhook-id-kept", UNKNOWN, "the created webhook has no webhookId")
            return
        # The whole settings go along, so a replacing server keeps the probe values too.
        item = {**sent, "webhookId": webhook_id, "events": ["conversation_started"]}
        item.pop("secret")
        patch = {"agentSettings": {**_PROBE_SETTINGS, "webhooks": [item]}}
        self.client.probe("PATCH", f"{AGENTS}/{_seg(agent_id)}", body=patch)
        after = self._get(agent_id).get("agentSettings", {}).get("webhooks") or []
        ids = [h.get("webhookId") for h in after if isinstance(h, dict)]
        if ids == [webhook_id]:
            self._found("webhook-id-kept", HOLDS, "the webhookId was kept", "kept")
        else:
            seen = f"after the PATCH the webhook ids were {ids}, not [{webhook_id}]"
            self._found("webhook-id-kept", DIFFERS, seen, "changed")

    def _settings_patch(self, agent_id: str) -> None:
        patch = {"agentSettings": {"globalPrompt": "sigmaform doctor: one-key PATCH"}}
        self.client.probe("PATCH", f"{AGENTS}/{_seg(agent_id)}", body=patch)
        after = self._get(agent_id).get("agentSettings", {})
        lost = {k: after.get(k) for k, v in _PROBE_SETTINGS.items() if after.get(k) != v}
        if not lost:
            self._found("settings-patch", HOLDS, "the other settings were kept", "merge")
        else:
            shown = ", ".join(f"{k} became {v!r}" for k, v in lost.items())
            seen = f"a PATCH of globalPrompt alone replaced the rest ({shown})"
            self._found("settings-patch", DIFFERS, seen, "replace")

    def _test_cases(self, agent_id: str) -> None:
        body = {
            "agentId": agent_id,
            "label": "sigmaform doctor",
            "userPrompt": "A caller who says hello.",
            "successCriteria": "The agent answers.",
        }
        step = "POST /v1/test-cases"
        try:
            created = self.client.probe("POST", TEST_CASES, body=body)
            case_id = created.get("testCaseId") if isinstance(created, dict) else None
            if not isinstance(case_id, str):
                seen = "POST /v1/test-cases answered without testCaseId"
                self._found("test-case-paths", DIFFERS, seen, "no-id")
                return
            self._case = (case_id, agent_id)
            path = f"{TEST_CASES}/{_seg(case_id)}"
            step = "PUT /v1/test-cases/{id}"
            self.client.probe("PUT", path, body={**body, "successCriteria": "It answers."})
            step = "DELETE /v1/test-cases/{id}?agentId="
            self.client.probe("DELETE", path, params={"agentId": agent_id})
            self._case = None
        except ApiError as error:
            seen = f"{step} answered {error.status or 'nothing'}"
            self._found("test-case-paths", DIFFERS, seen, "failed")
            return
        self._found("test-case-paths", HOLDS, "create, PUT and delete worked", "ok")

    def _agent_delete(self, agent_id: str) -> None:
        path = f"{AGENTS}/{_seg(agent_id)}"
        try:
            self.client.probe("DELETE", path)
        except ApiError as error:
            if error.status not in (404, 405):
                raise
            seen = f"DELETE /v1/agents/{{id}} answered {error.status}"
            self._found("agent-delete", DIFFERS, seen, str(error.status))
            return
        if self.client.get_agent(agent_id) is None:
            self._agents.remove(agent_id)
            self._found("agent-delete", HOLDS, "the agent was deleted", "allowed")
        else:
            seen = "DELETE /v1/agents/{id} succeeded but the agent is still there"
            self._found("agent-delete", DIFFERS, seen, "ignored")

    # -- clean-up ----------------------------------------------------------------------

    def _remove_leftover(self, agent_id: str) -> None:
        """An agent an earlier (killed) run left: its test cases, then the agent."""
        try:
            cases = _items(self.client.probe("GET", TEST_CASES, params={"agentId": agent_id}))
        except ApiError:
            cases = []
        for case in cases:
            if isinstance(case.get("testCaseId"), str):
                self._delete_case(str(case["testCaseId"]), agent_id)
        if self._delete_agent(agent_id):
            self.report.removed.append(agent_id)

    def _delete_case(self, case_id: str, agent_id: str) -> bool:
        path = f"{TEST_CASES}/{_seg(case_id)}"
        try:
            self.client.probe("DELETE", path, params={"agentId": agent_id})
        except ApiError as error:
            if error.status != 404:
                self.report.leftovers.append(("test case", case_id))
                return False
        return True

    def _delete_agent(self, agent_id: str) -> bool:
        # A failure (a 404 may mean "already gone") is judged by the read below.
        with contextlib.suppress(ApiError):
            self.client.probe("DELETE", f"{AGENTS}/{_seg(agent_id)}")
        try:
            gone = self.client.get_agent(agent_id) is None
        except ApiError:
            gone = False
        if not gone:
            self.report.leftovers.append(("agent", agent_id))
        return gone

    def _clean_up(self) -> None:
        """Remove what this run made; runs after a failure or Ctrl-C too."""
        if self._case is not None:
            self._delete_case(*self._case)
            self._case = None
        if self._unanswered:
            self._agents += self._found_by_name(self._unanswered)
            self._unanswered = []
        for agent_id in reversed(self._agents):
            self._delete_agent(agent_id)
        self._agents = []

    def _found_by_name(self, names: Sequence[str]) -> list[str]:
        try:
            listed = self.client.list_agents()
        except ApiError:
            self.report.leftovers += [("agent", f"named {n}") for n in names]
            return []
        return [
            str(a["agentId"])
            for a in listed
            if a.get("agentName") in names and isinstance(a.get("agentId"), str)
        ]


def _analysis_kept(agent: Mapping[str, Any]) -> bool:
    """Whether the server kept the post-conversation analysis a create sent (either name)."""
    settings = agent.get("agentSettings") or {}
    enabled = settings.get("enablePostConversationAnalysis")
    if enabled is None:
        enabled = settings.get("enablePostConversationInsights")
    items = settings.get("postConversationAnalysis") or settings.get("postConversationInsights")
    return enabled is True and bool(items)
