"""The emulator's readings of what the docs leave open, each switchable to the alternative.

`sigmaform doctor` checks these against a real account; setting the emulator to each
alternative is how every branch of doctor, and of sigmaform's adaptation, is tested.
The defaults are the reading sigmaform assumes (design.md section 9).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any, Literal

from sigmaform.kinds import CREATE_ANALYSIS_ITEM_NAMES, CREATE_SETTINGS_NAMES

ListItems = Literal["whole", "partial"]
WebhookSecrets = Literal["echoed", "hidden"]
PhoneField = Literal["sipPhoneNumber", "phoneNumber"]
AgentDelete = Literal["allowed", "405", "404"]
CreateNames = Literal["any", "create", "update"]
WebhookIds = Literal["kept", "renewed"]
TestCases = Literal["present", "absent"]
BatchJobs = Literal["hidden", "listed"]
SuccessField = Literal["isSuccessful", "isSuccesful"]

# Each mode's allowed values; the first is the default.
CHOICES: dict[str, tuple[str, ...]] = {
    "list_items": ("whole", "partial"),
    "webhook_secrets": ("echoed", "hidden"),
    "phone_number_field": ("sipPhoneNumber", "phoneNumber"),
    "agent_delete": ("allowed", "405", "404"),
    "create_names": ("any", "create", "update"),
    "webhook_ids": ("kept", "renewed"),
    "test_cases": ("present", "absent"),
    "batch_jobs": ("hidden", "listed"),
    "success_field": ("isSuccessful", "isSuccesful"),
}
# Simulation testing as a whole: a server without test cases runs no batches either.
_TEST_PATHS = ("/v1/test-cases", "/v1/batch-runs", "/v1/test-runs")
_AGENT_PATH = re.compile(r"^/v1/agents/[^/]+$")
# What a `partial` agent listing keeps of each agent.
SUMMARY_FIELDS = ("agentId", "agentName", "status", "createdAt", "updatedAt")


@dataclass(frozen=True)
class Modes:
    """`list_items`: whether `GET /v1/agents` answers whole agents or summaries.
    `webhook_secrets`: whether responses carry webhook secrets.
    `phone_number_field`: the name phone-number responses give the number.
    `agent_delete`: whether `DELETE /v1/agents/{id}` exists (or answers 405 / 404).
    `create_names`: which post-conversation names `POST /v1/agents` takes: both, only
    the Create page's (`...Insights`), or only the Update/GET page's (`...Analysis`).
    `webhook_ids`: whether a PATCHed webhook item keeps the `webhookId` it names, or the
    server ignores it and issues a new one.
    `test_cases`: whether the `/v1/test-cases` endpoints exist.
    `batch_jobs`: whether a batch run's answer lists its completed attempts' `jobIds` (the
    docs show no way to learn them: `listed` is the emulator's opt-in "rich" mode).
    `success_field`: the name a test run gives its verdict, `isSuccessful` (new docs) or
    `isSuccesful` (the older pages' spelling)."""

    list_items: ListItems = "whole"
    webhook_secrets: WebhookSecrets = "echoed"
    phone_number_field: PhoneField = "sipPhoneNumber"
    agent_delete: AgentDelete = "allowed"
    create_names: CreateNames = "any"
    webhook_ids: WebhookIds = "kept"
    test_cases: TestCases = "present"
    batch_jobs: BatchJobs = "hidden"
    success_field: SuccessField = "isSuccessful"

    @classmethod
    def parse(cls, values: dict[str, Any]) -> Modes:
        """Modes from a mapping (emulator.json); ValueError naming a bad key or value."""
        out: dict[str, Any] = {}
        for name, value in values.items():
            allowed = CHOICES.get(name)
            if allowed is None:
                raise ValueError(f"unknown mode {name}")
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}")
            out[name] = value
        return cls(**out)

    def overridden_by(self, other: Modes) -> Modes:
        """`self` with every mode `other` sets away from its default."""
        defaults = Modes()
        changed = {
            f.name: getattr(other, f.name)
            for f in fields(Modes)
            if getattr(other, f.name) != getattr(defaults, f.name)
        }
        return Modes(**{**{f.name: getattr(self, f.name) for f in fields(Modes)}, **changed})


def without_secrets(value: Any) -> Any:
    """A response body with every webhook `secret` removed (the `hidden` reading)."""
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items() if k != "secret"}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


def _drop_names(body: Any, settings_names: set[str], item_names: set[str]) -> Any:
    """An agent create body without the post-conversation names this server ignores."""
    if not isinstance(body, dict) or not isinstance(body.get("agentSettings"), dict):
        return body
    settings = {}
    for key, value in body["agentSettings"].items():
        if key in settings_names:
            continue
        if isinstance(value, list):
            value = [
                {k: v for k, v in item.items() if k not in item_names}
                if isinstance(item, dict)
                else item
                for item in value
            ]
        settings[key] = value
    return {**body, "agentSettings": settings}


def _without_webhook_ids(body: Any) -> Any:
    settings = body.get("agentSettings") if isinstance(body, dict) else None
    if not isinstance(settings, dict) or not isinstance(settings.get("webhooks"), list):
        return body
    hooks = settings["webhooks"]
    fresh = [
        {k: v for k, v in h.items() if k != "webhookId"} if isinstance(h, dict) else h
        for h in hooks
    ]
    return {**body, "agentSettings": {**settings, "webhooks": fresh}}


def adjust_request(modes: Modes, method: str, path: str, body: Any) -> Any:
    """The request body as this server reads it (what it ignores is dropped)."""
    if method == "PATCH" and _AGENT_PATH.match(path) and modes.webhook_ids == "renewed":
        return _without_webhook_ids(body)
    if method != "POST" or path != "/v1/agents" or modes.create_names == "any":
        return body
    create = set(CREATE_SETTINGS_NAMES.values())
    canonical = set(CREATE_SETTINGS_NAMES)
    if modes.create_names == "create":
        return _drop_names(body, canonical, set(CREATE_ANALYSIS_ITEM_NAMES))
    return _drop_names(body, create, set(CREATE_ANALYSIS_ITEM_NAMES.values()))


def refusal(modes: Modes, method: str, path: str) -> tuple[int, str] | None:
    """The status and message for a route this server does not have, or None."""
    if method == "DELETE" and _AGENT_PATH.match(path) and modes.agent_delete != "allowed":
        if modes.agent_delete == "405":
            return 405, f"DELETE is not allowed on {path}"
        return 404, f"no route {path}"
    if path.startswith(_TEST_PATHS) and modes.test_cases == "absent":
        return 404, f"no route {path}"
    return None


def adjust_response(modes: Modes, method: str, path: str, body: Any) -> Any:
    """The response body as this server shapes it."""
    if body is None:
        return body
    if modes.webhook_secrets == "hidden":
        body = without_secrets(body)
    listing = method == "GET" and path == "/v1/agents" and isinstance(body, dict)
    if modes.list_items == "partial" and listing and isinstance(body.get("data"), list):
        summaries = [{k: a[k] for k in SUMMARY_FIELDS if k in a} for a in body["data"]]
        body = {**body, "data": summaries}
    if modes.phone_number_field == "phoneNumber" and path.startswith("/v1/phone-numbers"):
        body = _renamed_number(body)
    if path.startswith("/v1/batch-runs") and modes.batch_jobs == "hidden":
        body = _without_job_ids(body)
    typo = modes.success_field == "isSuccesful" and path.startswith("/v1/test-runs/")
    if typo and isinstance(body, dict) and "isSuccessful" in body:
        body = {("isSuccesful" if k == "isSuccessful" else k): v for k, v in body.items()}
    return body


def _without_job_ids(body: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        return {**body, "data": [_without_job_ids(item) for item in body["data"]]}
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k != "jobIds"}
    return body


def _renamed_number(body: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        return {**body, "data": [_renamed_number(item) for item in body["data"]]}
    if isinstance(body, dict) and "sipPhoneNumber" in body:
        return {("phoneNumber" if k == "sipPhoneNumber" else k): v for k, v in body.items()}
    return body
