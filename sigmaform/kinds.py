"""The table of resource kinds: API paths, identity, references, server-owned fields, order.

Every assumption about the vendor's API that the docs leave open (design.md section 9)
that concerns a kind's shape lives here, so it can be changed in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The Create Agent page names post-conversation analysis differently from the Update
# Agent page and GET responses (sigmamind-api.md section 4, item 1). YAML, state and
# plans use the Update/GET names; the client translates to these on create only, and
# validation names the canonical field when YAML uses one of these.
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


@dataclass(frozen=True)
class Kind:
    """How one kind of resource maps onto the API."""

    name: str  # as written in YAML: `kind: Agent`
    prefix: str  # state/plan address prefix: `agent.support`
    schema: str  # file name in schemas/
    id_field: str  # the remote id in API responses
    creatable: bool  # False: the object must already exist remotely; sigmaform adopts it
    deletable: bool  # False: "delete" only forgets it (removes it from state)
    identity_field: str | None = None  # spec field holding the remote id of an adopted object
    # Spec field no two resources of this kind may share in one environment: two agents with
    # one agentName defeat the lost-create lookup; two resources for one number fight.
    unique_field: str | None = None
    # spec field -> (referenced kind, API field the resolved id is sent as)
    references: dict[str, tuple[str, str]] = field(default_factory=dict)
    server_owned: frozenset[str] = frozenset()
    order: int = 0  # lower applies first; deletes run in reverse
    # Responses that return a reference as a summary object instead of its id field:
    # response key -> API id field (a chat answers `agent: {name, agentId, status}`).
    reference_objects: dict[str, str] = field(default_factory=dict)
    # Response fields that carry the identity when `identity_field` itself is absent: the
    # docs' PhoneNumber object has `sipPhoneNumber` and no `phoneNumber`.
    identity_aliases: tuple[str, ...] = ()


AGENT = Kind(
    name="Agent",
    prefix="agent",
    schema="agent.schema.json",
    id_field="agentId",
    creatable=True,
    deletable=True,
    server_owned=frozenset({"agentId", "createdAt", "updatedAt", "status", "workspaceId"}),
    order=0,
    unique_field="agentName",
)
PHONE_NUMBER = Kind(
    name="PhoneNumber",
    prefix="phone-number",
    schema="phone-number.schema.json",
    id_field="phoneNumber",
    creatable=False,
    deletable=False,
    identity_field="phoneNumber",
    unique_field="phoneNumber",
    references={
        "inboundAgent": ("Agent", "inboundAgentId"),
        "outboundAgent": ("Agent", "outboundAgentId"),
    },
    server_owned=frozenset({"sipPhoneNumber", "provider", "active", "createdAt", "updatedAt"}),
    order=1,
    identity_aliases=("sipPhoneNumber",),
)
CHAT = Kind(
    name="Chat",
    prefix="chat",
    schema="chat.schema.json",
    id_field="chatId",
    creatable=False,
    deletable=False,
    identity_field="chatId",
    unique_field="chatId",
    references={"agent": ("Agent", "agentId")},
    reference_objects={"agent": "agentId"},
    server_owned=frozenset(
        {"createdAt", "status", "transcript", "response", "messages", "workspaceId"}
    ),
    order=1,
)

KINDS: dict[str, Kind] = {k.name: k for k in (AGENT, PHONE_NUMBER, CHAT)}
BY_PREFIX: dict[str, Kind] = {k.prefix: k for k in KINDS.values()}


def kind_named(word: str) -> Kind | None:
    """The kind a user means, however spelt: `PhoneNumber`, `phonenumber`, `phone-number`."""
    key = word.replace("-", "").replace("_", "").lower()
    return next((k for k in KINDS.values() if k.name.lower() == key), None)


def canonical_address(text: str) -> str | None:
    """`Agent.support` -> `agent.support`, `PhoneNumber.x` -> `phone-number.x`: the address
    state and plans use; None when TEXT is not KIND.NAME."""
    word, _, name = text.partition(".")
    kind = kind_named(word)
    return f"{kind.prefix}.{name}" if kind is not None and name else None


# Fields whose values are always sensitive, wherever they appear in a spec.
SENSITIVE_KEYS: frozenset[str] = frozenset({"secret"})
