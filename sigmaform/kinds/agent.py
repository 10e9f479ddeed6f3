"""Agent: `POST/GET/PATCH/DELETE /v1/agents`, the create page's other names, lost creates.

The Create Agent page names post-conversation analysis differently from the Update
Agent page and GET responses (sigmamind-api.md section 4, item 1). YAML, state and
plans use the Update/GET names; bodies are translated on create only (unless
`sigmaform doctor` found the server takes the Update names there: `api_profile`),
and validation names the canonical field when YAML uses one of the create names.

Creates are not idempotent and the API offers no idempotency key. A create whose
outcome is unknown is never blindly repeated: the agents are listed and looked up by
`agentName`. Exactly one with the instructions we sent, or else exactly one created
after we started (server `createdAt`, with one second of slack: servers truncate
timestamps), is taken as ours; none means the create did not happen and it is sent again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sigmaform.errors import ApiError
from sigmaform.kinds.base import Api, Kind, as_object, created_since
from sigmaform.sensitive import reveal_tree

CREATE_SETTINGS_NAMES: dict[str, str] = {
    "enablePostConversationAnalysis": "enablePostConversationInsights",
    "postConversationAnalysisLlmModel": "postConversationInsightsLlmModel",
    "postConversationAnalysis": "postConversationInsights",
}
CREATE_ANALYSIS_ITEM_NAMES: dict[str, str] = {"insightInstructions": "analysisInstructions"}


def to_create_names(body: dict[str, Any]) -> dict[str, Any]:
    """An agent body with canonical (Update/GET) names turned into the Create page's names."""
    settings = body.get("agentSettings")
    if not isinstance(settings, dict):
        return body
    renamed: dict[str, Any] = {}
    for key, value in settings.items():
        if key == "postConversationAnalysis" and isinstance(value, list):
            value = [
                {CREATE_ANALYSIS_ITEM_NAMES.get(k, k): v for k, v in item.items()}
                if isinstance(item, dict)
                else item
                for item in value
            ]
        renamed[CREATE_SETTINGS_NAMES.get(key) or key] = value
    return {**body, "agentSettings": renamed}


def to_canonical_names(body: dict[str, Any]) -> dict[str, Any]:
    """The inverse of `to_create_names`: accept either naming, return the canonical one."""
    settings = body.get("agentSettings")
    if not isinstance(settings, dict):
        return body
    back = {v: k for k, v in CREATE_SETTINGS_NAMES.items()}
    item_back = {v: k for k, v in CREATE_ANALYSIS_ITEM_NAMES.items()}
    renamed: dict[str, Any] = {}
    for key, value in settings.items():
        key = back.get(key, key)
        if key == "postConversationAnalysis" and isinstance(value, list):
            value = [
                {item_back.get(k, k): v for k, v in item.items()}
                if isinstance(item, dict)
                else item
                for item in value
            ]
        renamed[key] = value
    return {**body, "agentSettings": renamed}


class AgentKind(Kind):
    """Agents: create-page names, webhook ids echoed by name, lost creates looked up."""

    def from_wire(self, body: dict[str, Any]) -> dict[str, Any]:
        return to_canonical_names(body)

    def nested_ids(self, body: Mapping[str, Any]) -> dict[str, dict[str, str]]:
        settings = body.get("agentSettings")
        if not isinstance(settings, Mapping):
            return {}
        hooks = settings.get("webhooks")
        ids: dict[str, str] = {}
        if isinstance(hooks, list):
            for item in hooks:
                if isinstance(item, Mapping) and item.get("name") and item.get("webhookId"):
                    ids[str(item["name"])] = str(item["webhookId"])
        return {"webhooks": ids} if ids else {}

    def with_nested_ids(
        self, body: dict[str, Any], known: Mapping[str, Mapping[str, str]]
    ) -> dict[str, Any]:
        # Each existing webhook keeps its id (matched by name): the server updates it in place.
        hooks = body.get("agentSettings", {}).get("webhooks")
        if isinstance(hooks, list):
            by_name = known.get("webhooks", {})
            body["agentSettings"]["webhooks"] = [
                {**item, "webhookId": by_name[item["name"]]}
                if isinstance(item, dict)
                and item.get("name") in by_name
                and "webhookId" not in item
                else item
                for item in hooks
            ]
        return body

    def create(
        self, api: Api, body: dict[str, Any], params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Create an agent; a lost response is resolved by looking the agent up, not resent."""
        started = datetime.now(UTC)
        name = reveal_tree(body.get("agentName"))
        instructions = reveal_tree(body.get("instructions"))
        stats = getattr(api, "stats", None)

        def recover() -> dict[str, Any] | None:
            if not isinstance(name, str):
                return None
            found = self._find_created(api, name, instructions, started)
            if found is not None:
                if stats is not None:
                    stats.record_recovered_create()
                import logging  # here: a plan never sends a create

                logging.getLogger("sigmaform.client").debug(
                    "create of agent %r had a lost response; found it as %s",
                    name,
                    found.get("agentId"),
                )
            return found

        result = api.request("POST", self.path, body=api.profile.create_body(body), recover=recover)
        created = to_canonical_names(as_object(result, "POST", self.path))
        if not isinstance(created.get("agentId"), str) or not created["agentId"]:
            raise ApiError(
                "POST",
                self.path,
                None,
                f"the server answered the create of agent {name!r} without an `agentId`: it"
                " may exist now; `sigmaform plan` finds it by name",
            )
        return created

    def _find_created(
        self, api: Api, name: str, instructions: Any, started: datetime
    ) -> dict[str, Any] | None:
        candidates = [a for a in self.list(api) if a.get("agentName") == name]
        same = [a for a in candidates if a.get("instructions") == instructions]
        fresh = [a for a in (same or candidates) if created_since(a.get("createdAt"), started)]
        if len(same) == 1:
            chosen = same[0]
        elif len(fresh) == 1:
            chosen = fresh[0]
        elif len(fresh) > 1:
            raise ApiError(
                "POST",
                self.path,
                None,
                f"the response to creating agent {name!r} was lost and {len(fresh)} agents with"
                " that name appeared since; refusing to create another. Remove the extra ones"
                " or import them",
            )
        else:
            return None
        # A list item may be a summary; the caller expects the full record.
        agent_id = chosen.get("agentId")
        full = self.get(api, agent_id) if isinstance(agent_id, str) else None
        return full if full is not None else chosen


AGENT = AgentKind(
    name="Agent",
    prefix="agent",
    schema="agent.schema.json",
    id_field="agentId",
    creatable=True,
    deletable=True,
    path="/v1/agents",
    server_owned=frozenset({"agentId", "createdAt", "updatedAt", "status", "workspaceId"}),
    order=0,
    unique_field="agentName",
    merged_objects=frozenset({"agentSettings"}),
    sensitive_fields=frozenset({"secret"}),
    import_order=(
        "agentName",
        "instructions",
        "welcomeMessageType",
        "welcomeMessage",
        "agentSettings",
        "tools",
    ),
)
