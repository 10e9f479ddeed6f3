"""Webhooks: the `/v1/webhooks` endpoints and the items embedded in `agentSettings.webhooks`.

The docs never say how the two relate, but their examples share the id
`wh_BUbkx3PsbzQm5V10`, so here they are one table: every webhook lives inside its agent's
`agentSettings.webhooks`, `POST /v1/webhooks` appends to that array, `DELETE` removes from
it, and `GET /v1/webhooks?agentId=` lists it. A small index (`webhook_index/<id>.json` ->
agent id) finds a webhook by id without scanning every agent.
"""

from __future__ import annotations

from typing import Any

from sigmaform.emulator.context import Context
from sigmaform.emulator.validation import (
    check_events,
    check_fields,
    check_string,
    check_type,
    check_url,
    required,
)
from sigmaform.emulator.wire import (
    JsonObject,
    Request,
    Response,
    Route,
    bad_request,
    not_found,
    paginate,
)

INDEX = "webhook_index"
ITEM_FIELDS = {
    "webhookId": "string",
    "name": "string",
    "url": "string",
    "secret": "string",
    "events": "array",
    "active": "boolean",
}


def check_item(item: Any, where: str = "") -> JsonObject:
    """A webhook item, checked; only its known fields are kept. `where` prefixes field names."""
    prefix = f"{where}." if where else ""
    check_type(item, "object", where or "body")
    check_fields(item, ITEM_FIELDS, prefix)
    if "name" in item:
        check_string(item["name"], f"{prefix}name", max_len=128)
    check_url(required(item, "url", prefix), f"{prefix}url")
    check_events(required(item, "events", prefix), f"{prefix}events")
    return {k: item[k] for k in ITEM_FIELDS if k in item}


def assign_ids(ctx: Context, items: list[JsonObject], old: list[JsonObject]) -> list[JsonObject]:
    """Give new items server ids and secrets; items naming one of `old`'s ids keep it.

    An item whose `webhookId` is not one of this agent's webhooks is treated as new (it
    gets a fresh id) rather than refused: the docs say nothing, and taking over another
    agent's id would break the one-table rule.
    """
    previous = {item["webhookId"]: item for item in old}
    seen: set[str] = set()
    result = []
    for item in items:
        known = previous.get(item.get("webhookId", ""))
        if known is not None and known["webhookId"] not in seen:
            merged = {**item, "webhookId": known["webhookId"]}
            merged.setdefault("secret", known["secret"])
            merged.setdefault("active", known.get("active", True))
        else:
            webhook_id = ctx.ids.new("wh_", lambda i: ctx.ws.exists(INDEX, i) or i in seen)
            merged = {**item, "webhookId": webhook_id}
            merged.setdefault("secret", ctx.ids.secret())
            merged.setdefault("active", True)
        merged.setdefault("name", "")
        seen.add(merged["webhookId"])
        result.append(
            {k: merged[k] for k in ("webhookId", "name", "url", "secret", "events", "active")}
        )
    return result


def reindex(ctx: Context, agent_id: str, old: list[JsonObject], new: list[JsonObject]) -> None:
    """Keep the id index in step with an agent's webhooks (call under the workspace lock)."""
    new_ids = {item["webhookId"] for item in new}
    for item in old:
        if item["webhookId"] not in new_ids:
            ctx.ws.delete(INDEX, item["webhookId"])
    old_ids = {item["webhookId"] for item in old}
    for webhook_id in new_ids - old_ids:
        ctx.ws.put(INDEX, webhook_id, {"agentId": agent_id})


def _present(ctx: Context, agent_id: str, item: JsonObject) -> JsonObject:
    return {
        "webhookId": item["webhookId"],
        "workspaceId": ctx.ws.workspace_id,
        "name": item["name"],
        "agentId": agent_id,
        "url": item["url"],
        "events": item["events"],
        "secret": item["secret"],
        "active": item["active"],
    }


def _find(ctx: Context, webhook_id: str) -> tuple[JsonObject, JsonObject]:
    entry = ctx.ws.get(INDEX, webhook_id)
    agent = ctx.ws.get("agents", entry["agentId"]) if entry else None
    for item in (agent or {}).get("agentSettings", {}).get("webhooks", []):
        if item["webhookId"] == webhook_id:
            assert agent is not None
            return agent, item
    raise not_found(f"no webhook with id {webhook_id!r}")


def create_webhook(ctx: Context, request: Request, _: str) -> Response:
    body = request.json_object()
    check_string(required(body, "name"), "name", min_len=1, max_len=128)
    agent_id = check_string(required(body, "agentId"), "agentId", min_len=1, max_len=64)
    item = check_item({k: body[k] for k in ("name", "url", "events") if k in body})
    with ctx.ws.locked():
        agent = ctx.ws.get("agents", agent_id)
        if agent is None:
            raise bad_request(f"agentId: no agent with id {agent_id!r}")
        old = agent["agentSettings"]["webhooks"]
        (created,) = assign_ids(ctx, [item], [])
        agent["agentSettings"]["webhooks"] = [*old, created]
        reindex(ctx, agent_id, old, agent["agentSettings"]["webhooks"])
        ctx.ws.put("agents", agent_id, agent)
    return Response(200, _present(ctx, agent_id, created))


def list_webhooks(ctx: Context, request: Request, _: str) -> Response:
    raw_active = request.query.get("active", "true").lower()
    if raw_active not in ("true", "false"):
        raise bad_request("active must be true or false")
    active = raw_active == "true"
    agent_id = request.query.get("agentId")

    def rows_of(agent: JsonObject) -> list[JsonObject]:
        return [
            _present(ctx, agent["agentId"], item)
            for item in agent["agentSettings"]["webhooks"]
            if item["active"] is active
        ]

    if agent_id is not None:
        found = ctx.ws.get("agents", agent_id) if agent_id else None
        per_agent = [rows_of(found)] if found else []
    else:
        per_agent = ctx.ws.summaries("agents", rows_of)
    rows = [row for rows in per_agent for row in rows]
    return Response(200, paginate(rows, request.query, lambda row: row))


def get_webhook(ctx: Context, request: Request, webhook_id: str) -> Response:
    agent, item = _find(ctx, webhook_id)
    return Response(200, _present(ctx, agent["agentId"], item))


def delete_webhook(ctx: Context, request: Request, webhook_id: str) -> Response:
    with ctx.ws.locked():
        agent, _item = _find(ctx, webhook_id)
        old = agent["agentSettings"]["webhooks"]
        agent["agentSettings"]["webhooks"] = [w for w in old if w["webhookId"] != webhook_id]
        reindex(ctx, agent["agentId"], old, agent["agentSettings"]["webhooks"])
        ctx.ws.put("agents", agent["agentId"], agent)
    return Response(204)


ROUTES = [
    Route(r"/v1/webhooks", {"GET": list_webhooks, "POST": create_webhook}),
    Route(r"/v1/webhooks/([^/]+)", {"GET": get_webhook, "DELETE": delete_webhook}),
]
