"""Chats: create (with a canned reply), send a message, get, list, patch and end."""

from __future__ import annotations

from typing import Any

from sigmaform.emulator.context import Context
from sigmaform.emulator.validation import check_string, check_type, required
from sigmaform.emulator.wire import (
    JsonObject,
    Request,
    Response,
    Route,
    bad_request,
    conflict,
    not_found,
    now_iso,
    paginate,
    public,
)

COLLECTION = "chats"
MAX_INPUT = 20480
IN_PROGRESS = "in_progress"
ENDED = "ended"


def _agent(ctx: Context, value: Any, field: str = "agentId") -> JsonObject:
    agent_id = check_string(value, field, min_len=1, max_len=64)
    agent = ctx.ws.get("agents", agent_id)
    if agent is None:
        raise bad_request(f"{field}: no agent with id {agent_id!r}")
    return agent


def _variables(body: JsonObject) -> JsonObject:
    value = body.get("dynamicVariables")
    if value is None:
        return {}
    check_type(value, "object", "dynamicVariables")
    assert isinstance(value, dict)
    return value


def _message(ctx: Context, role: str, text: str) -> JsonObject:
    item_id = ctx.ids.new("item_", lambda _: False)
    return {"id": item_id, "role": role, "type": "message", "content": [text]}


def _converse(ctx: Context, chat: JsonObject, agent_name: str, text: str) -> None:
    """Append the user's message and the emulator's canned reply to a chat."""
    reply = _message(ctx, "assistant", f"({agent_name}, emulated) You said: {text[:200]}")
    chat["messages"] += [_message(ctx, "user", text), reply]
    chat["response"] = [reply]
    lines = [chat["transcript"]] if chat["transcript"] else []
    chat["transcript"] = "\n".join([*lines, f"User: {text}", f"Agent: {reply['content'][0]}"])


def _present(ctx: Context, chat: JsonObject) -> JsonObject:
    agent = ctx.ws.get("agents", chat["_agentId"])
    name = agent["agentName"] if agent else chat["_agentName"]
    status = agent["status"] if agent else "Deleted"
    return {
        "chatId": chat["chatId"],
        "agent": {"name": name, "agentId": chat["_agentId"], "status": status},
        **{k: v for k, v in public(chat).items() if k != "chatId"},
    }


def _get(ctx: Context, chat_id: str) -> JsonObject:
    chat = ctx.ws.get(COLLECTION, chat_id)
    if chat is None:
        raise not_found(f"no chat with id {chat_id!r}")
    return chat


def create_chat(ctx: Context, request: Request, _: str) -> Response:
    body = request.json_object()
    agent = _agent(ctx, required(body, "agentId"))
    text = check_string(required(body, "input"), "input", min_len=1, max_len=MAX_INPUT)
    variables = _variables(body)
    previous = body.get("previousChatId")
    if previous is not None:
        check_string(previous, "previousChatId", max_len=128)
        if not ctx.ws.exists(COLLECTION, previous):
            raise bad_request(f"previousChatId: no chat with id {previous!r}")
    with ctx.ws.locked():
        chat_id = ctx.ids.new("chat_", lambda i: ctx.ws.exists(COLLECTION, i))
        chat: JsonObject = {
            "chatId": chat_id,
            "createdAt": now_iso(),
            "status": IN_PROGRESS,
            "transcript": "",
            "response": [],
            "messages": [],
            "dynamicVariables": variables,
            "_agentId": agent["agentId"],
            "_agentName": agent["agentName"],
        }
        _converse(ctx, chat, agent["agentName"], text)
        ctx.ws.put(COLLECTION, chat_id, chat)
    return Response(201, _present(ctx, chat))


def send_message(ctx: Context, request: Request, _: str) -> Response:
    body = request.json_object()
    chat_id = check_string(required(body, "chatId"), "chatId", min_len=1, max_len=128)
    text = check_string(required(body, "input"), "input", min_len=1, max_len=MAX_INPUT)
    with ctx.ws.locked():
        chat = _open_chat(ctx, chat_id)
        _converse(ctx, chat, chat["_agentName"], text)
        ctx.ws.put(COLLECTION, chat_id, chat)
    return Response(200, _present(ctx, chat))


def _open_chat(ctx: Context, chat_id: str) -> JsonObject:
    chat = _get(ctx, chat_id)
    if chat["status"] != IN_PROGRESS:
        raise conflict(f"chat {chat_id} is {chat['status']}; only an in_progress chat changes")
    return chat


def list_chats(ctx: Context, request: Request, _: str) -> Response:
    chats = ctx.ws.all(COLLECTION)
    status = request.query.get("status")
    if status is not None:
        chats = [chat for chat in chats if chat["status"] == status]
    # The docs spell the chats total `totalCounts` (sigmamind-api.md section 3.3).
    page = paginate(chats, request.query, lambda chat: _present(ctx, chat), "totalCounts")
    return Response(200, page)


def get_chat(ctx: Context, request: Request, chat_id: str) -> Response:
    return Response(200, _present(ctx, _get(ctx, chat_id)))


def patch_chat(ctx: Context, request: Request, chat_id: str) -> Response:
    """`dynamicVariables` is one field and is replaced whole when sent.

    (The docs' example response shows a key the request did not send, which hints at a
    merge; the summary says only "fields provided are updated", so we replace.)
    """
    body = request.json_object()
    agent = _agent(ctx, body["agentId"]) if "agentId" in body else None
    variables = _variables(body) if "dynamicVariables" in body else None
    with ctx.ws.locked():
        chat = _open_chat(ctx, chat_id)
        if agent is not None:
            chat["_agentId"] = agent["agentId"]
            chat["_agentName"] = agent["agentName"]
        if variables is not None:
            chat["dynamicVariables"] = variables
        ctx.ws.put(COLLECTION, chat_id, chat)
    return Response(200, _present(ctx, chat))


def end_chat(ctx: Context, request: Request, chat_id: str) -> Response:
    # The End Chat page's method and path were not visible in the docs; this is a guess.
    with ctx.ws.locked():
        chat = _open_chat(ctx, chat_id)
        chat["status"] = ENDED
        ctx.ws.put(COLLECTION, chat_id, chat)
    return Response(200, _present(ctx, chat))


ROUTES = [
    Route(r"/v1/chats", {"GET": list_chats, "POST": create_chat}),
    Route(r"/v1/chats/response", {"POST": send_message}),
    Route(r"/v1/chats/([^/]+)", {"GET": get_chat, "PATCH": patch_chat}),
    Route(r"/v1/chats/([^/]+)/end", {"POST": end_chat}),
]
