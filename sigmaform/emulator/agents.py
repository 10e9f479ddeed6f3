"""Agents: create, list, get, patch and delete, with server defaults and validation."""

from __future__ import annotations

import copy
from typing import Any

from sigmaform.emulator import webhooks
from sigmaform.emulator.context import Context
from sigmaform.emulator.validation import (
    check_fields,
    check_string,
    check_transfer_target,
    check_type,
    known_only,
)
from sigmaform.emulator.wire import (
    JsonObject,
    Request,
    Response,
    Route,
    bad_request,
    not_found,
    now_iso,
    paginate,
    public,
)
from sigmaform.kinds import to_canonical_names

TOP_FIELDS = {
    "agentName": "string",
    "instructions": "string",
    "welcomeMessageType": "string",
    "welcomeMessage": "string",
    "agentSettings": "object",
    "tools": "array",
}
SETTINGS_FIELDS = {
    "language": "string",
    "aiStartsConversation": "boolean",
    "backgroundSound": "string",
    "interruptionSensitivity": "number",
    "globalPrompt": "string",
    "remindersIntervalDuration": "number",
    "remindersLimit": "number",
    "endCallOnSilenceDuration": "number",
    "maxCallDuration": "number",
    "llmModel": "string",
    "llmTemperature": "number",
    "llmTopP": "number",
    "llmTopK": "number",
    "voiceId": "string",
    "voiceModelId": "string",
    "ttsSpeed": "number",
    "ttsTemperature": "number",
    "ttsVolume": "number",
    "aiStartsSpeakingPlan": "number",
    "aiStopsSpeakingPlan": "number",
    "ivrHangup": "boolean",
    "agentTimezone": "string",
    "autoVolumeNormalization": "boolean",
    "backgroundNoiseFilter": "boolean",
    "echoCancellation": "boolean",
    "enablePostConversationAnalysis": "boolean",
    "postConversationAnalysisLlmModel": "string",
    "postConversationAnalysis": "array",
    "webhooks": "array",
}
ANALYSIS_ITEM_FIELDS = {
    "insightName": "string",
    "insightInstructions": "string",
    "dataType": "string",
    "options": "array",
}
TOOL_FIELDS = {
    "type": "string",
    "instruction": "string",
    "description": "string",
    "transferToRouting": "string",
    "extensionNumber": "string",
    "toolName": "string",
    "nodeId": "string",
    "transferSettings": "object",
}
# What the server fills in for settings a request left out: the GET examples' values, so
# that a client meets the same noise as against the real service.
DEFAULT_SETTINGS: JsonObject = {
    "language": "en_US",
    "remindersIntervalDuration": 15,
    "remindersLimit": 3,
    "llmTemperature": 0.5,
    "llmTopP": 0.5,
    "llmTopK": 40,
    "ttsSpeed": 1.0,
    "ttsTemperature": 0.5,
    "ttsVolume": 0.5,
    "aiStartsSpeakingPlan": 0.5,
    "aiStopsSpeakingPlan": 0.5,
    "ivrHangup": False,
    "agentTimezone": "UTC",
    "autoVolumeNormalization": True,
    "backgroundNoiseFilter": True,
    "echoCancellation": True,
    "enablePostConversationAnalysis": False,
    "postConversationAnalysis": [],
    "webhooks": [],
}
DEFAULT_AGENT_NAME = "New AI Agent"  # the name the Update Chat example shows for an agent
WELCOME_TYPES = ("static", "prompt")
AGENT_STATUS = "Live"


def _check_analysis(items: list[Any]) -> None:
    for index, item in enumerate(items):
        where = f"agentSettings.postConversationAnalysis[{index}]"
        check_type(item, "object", where)
        check_fields(item, ANALYSIS_ITEM_FIELDS, where + ".")
        for position, option in enumerate(item.get("options", [])):
            check_type(option, "string", f"{where}.options[{position}]")


def _check_tools(items: list[Any]) -> None:
    for index, tool in enumerate(items):
        where = f"tools[{index}]"
        check_type(tool, "object", where)
        check_fields(tool, TOOL_FIELDS, where + ".")
        if "transferTo" in tool:
            check_transfer_target(tool["transferTo"], f"{where}.transferTo")


def checked_body(raw: JsonObject) -> JsonObject:
    """The agent fields of a create or update body, validated, with canonical names."""
    body = known_only(to_canonical_names(raw), TOP_FIELDS)
    check_fields(body, TOP_FIELDS)
    if "agentName" in body:
        check_string(body["agentName"], "agentName", min_len=1, max_len=128)
    if "welcomeMessageType" in body and body["welcomeMessageType"] not in WELCOME_TYPES:
        raise bad_request("welcomeMessageType must be one of static, prompt")
    if "tools" in body:
        _check_tools(body["tools"])
    if "agentSettings" in body:
        settings = known_only(body["agentSettings"], SETTINGS_FIELDS)
        check_fields(settings, SETTINGS_FIELDS, "agentSettings.")
        _check_analysis(settings.get("postConversationAnalysis", []))
        if "webhooks" in settings:
            settings["webhooks"] = [
                webhooks.check_item(item, f"agentSettings.webhooks[{index}]")
                for index, item in enumerate(settings["webhooks"])
            ]
        body["agentSettings"] = settings
    return body


def present(agent: JsonObject) -> JsonObject:
    return public(agent)


def _with_defaults(settings: JsonObject) -> JsonObject:
    return {**copy.deepcopy(DEFAULT_SETTINGS), **settings}


def create_agent(ctx: Context, request: Request, _: str) -> Response:
    body = checked_body(request.json_object())
    settings = _with_defaults(body.get("agentSettings", {}))
    with ctx.ws.locked():
        agent_id = ctx.ids.new("", lambda i: ctx.ws.exists("agents", i))
        settings["webhooks"] = webhooks.assign_ids(ctx, settings["webhooks"], [])
        now = now_iso()
        agent = {
            "agentId": agent_id,
            "agentName": body.get("agentName", DEFAULT_AGENT_NAME),
            "instructions": body.get("instructions", ""),
            "welcomeMessageType": body.get("welcomeMessageType", "static"),
            "welcomeMessage": body.get("welcomeMessage", ""),
            "agentSettings": settings,
            "tools": body.get("tools", []),
            "status": AGENT_STATUS,
            "createdAt": now,
            "updatedAt": now,
        }
        webhooks.reindex(ctx, agent_id, [], settings["webhooks"])
        ctx.ws.put("agents", agent_id, agent)
    return Response(201, present(agent))


def list_agents(ctx: Context, request: Request, _: str) -> Response:
    return Response(200, paginate(ctx.ws.listing("agents"), request.query, present))


def _get(ctx: Context, agent_id: str) -> JsonObject:
    agent = ctx.ws.get("agents", agent_id)
    if agent is None:
        raise not_found(f"no agent with id {agent_id!r}")
    return agent


def get_agent(ctx: Context, request: Request, agent_id: str) -> Response:
    return Response(200, present(_get(ctx, agent_id)))


def patch_agent(ctx: Context, request: Request, agent_id: str) -> Response:
    """Top-level fields merge; `agentSettings` merges key by key, or is replaced whole in
    `replace` mode (omitted keys fall back to defaults: the trap a client must detect);
    arrays are always replaced whole."""
    body = checked_body(request.json_object())
    with ctx.ws.locked():
        agent = _get(ctx, agent_id)
        for name in ("agentName", "instructions", "welcomeMessageType", "welcomeMessage", "tools"):
            if name in body:
                agent[name] = body[name]
        if "agentSettings" in body:
            sent = body["agentSettings"]
            old = agent["agentSettings"]
            settings = {**old, **sent} if ctx.settings_patch == "merge" else _with_defaults(sent)
            if "webhooks" in sent:
                settings["webhooks"] = webhooks.assign_ids(ctx, sent["webhooks"], old["webhooks"])
            webhooks.reindex(ctx, agent_id, old["webhooks"], settings["webhooks"])
            agent["agentSettings"] = settings
        agent["updatedAt"] = now_iso()
        ctx.ws.put("agents", agent_id, agent)
    return Response(200, present(agent))


def delete_agent(ctx: Context, request: Request, agent_id: str) -> Response:
    with ctx.ws.locked():
        agent = _get(ctx, agent_id)
        webhooks.reindex(ctx, agent_id, agent["agentSettings"]["webhooks"], [])
        ctx.ws.delete("agents", agent_id)
    return Response(204)


ROUTES = [
    Route(r"/v1/agents", {"GET": list_agents, "POST": create_agent}),
    # DELETE is not in the docs; design.md section 9 assumes it exists.
    Route(r"/v1/agents/([^/]+)", {"GET": get_agent, "PATCH": patch_agent, "DELETE": delete_agent}),
]
