"""Chat: an existing in-progress session's agent and variables, `PATCH /v1/chats/{chatId}`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sigmaform.kinds.base import Kind

# Statuses that still accept a PATCH (sigmamind-api.md 2.5: "Partially updates an
# in_progress chat session"); old docs spell it `in-progress`.
OPEN_SESSION = frozenset({"in_progress", "in-progress"})


class ChatKind(Kind):
    def closed(self, body: Mapping[str, Any]) -> str | None:
        status = body.get("status")
        if isinstance(status, str) and status not in OPEN_SESSION:
            return (
                f"the chat session's status is {status!r}: the API changes only in-progress "
                "chats, so it is not patched; remove its file or point it at a live chat"
            )
        return None


CHAT = ChatKind(
    name="Chat",
    prefix="chat",
    schema="chat.schema.json",
    id_field="chatId",
    creatable=False,
    deletable=False,
    path="/v1/chats",
    identity_field="chatId",
    unique_field="chatId",
    references={"agent": ("Agent", "agentId")},
    reference_objects={"agent": "agentId"},
    server_owned=frozenset(
        {"createdAt", "status", "transcript", "response", "messages", "workspaceId"}
    ),
    order=1,
)
