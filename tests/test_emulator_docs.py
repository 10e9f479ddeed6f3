"""The vendor docs' own examples, replayed against the emulator: same shapes, same names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sigmaform.emulator import EmulatorApp

SHARED = Path("/work/shared")
KEY = "test-key-docs"
# sigmamind-api.md section 3.2, verbatim.
ERROR_EXAMPLE = json.loads(
    '{"error": "Bad Request", "message": "Invalid request parameters", "path": "/v1/calls",'
    ' "status": 400, "timestamp": "2026-05-05T10:06:43.893Z"}'
)


def example(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request body and the response body shown on a captured docs page."""
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} is not available here")
    text = path.read_text(encoding="utf-8")
    start = text.index("--data '") + len("--data '")
    end = text.index("\n'\n", start)
    decoder = json.JSONDecoder()
    request = json.loads(text[start:end])
    response, _ = decoder.raw_decode(text[end + 3 :].lstrip())
    return request, response


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    transport = httpx.WSGITransport(app=EmulatorApp())
    with httpx.Client(transport=transport, base_url="http://e", headers={"X-API-Key": KEY}) as c:
        yield c


def test_update_agent_example(client: httpx.Client) -> None:
    request, documented = example("docs-page-update-agent.txt")
    agent_id = client.post("/v1/agents", json={"agentName": "Before"}).json()["agentId"]
    # The example's `+9187788XXXXX` is a redacted number, not E.164: the emulator refuses it
    # like any bad transfer target, so the test fills in digits.
    placeholder = client.patch(f"/v1/agents/{agent_id}", json=request)
    assert placeholder.status_code == 400
    assert "tools[0].transferTo" in placeholder.json()["message"]
    request["tools"][0]["transferTo"] = "+918778812345"
    response = client.patch(f"/v1/agents/{agent_id}", json=request)
    assert response.status_code == 200, response.text
    got = response.json()
    assert set(documented) <= set(got)
    assert set(documented["agentSettings"]) <= set(got["agentSettings"])
    for name in ("agentName", "instructions", "welcomeMessageType", "welcomeMessage"):
        assert got[name] == documented[name]
    for name, value in request["agentSettings"].items():
        if name != "webhooks":
            assert got["agentSettings"][name] == value, name
    (webhook,) = got["agentSettings"]["webhooks"]
    assert set(documented["agentSettings"]["webhooks"][0]) <= set(webhook)
    assert webhook["url"] == request["agentSettings"]["webhooks"][0]["url"]
    # The example's webhookId belongs to no webhook of this agent, so the server assigns one.
    assert webhook["webhookId"].startswith("wh_")
    # The documented response adds `transferSettings` to the tool; the emulator returns
    # the tool as sent (no defaults for tools are documented).
    assert set(got["tools"][0]) == set(documented["tools"][0]) - {"transferSettings"}
    assert got["agentId"] == agent_id


def test_update_chat_example(client: httpx.Client) -> None:
    request, documented = example("docs-page-update-chat.txt")
    agent_id = client.post("/v1/agents", json={"agentName": "New AI Agent"}).json()["agentId"]
    chat = client.post("/v1/chats", json={"agentId": agent_id, "input": "Hi"}).json()
    response = client.patch(f"/v1/chats/{chat['chatId']}", json={**request, "agentId": agent_id})
    assert response.status_code == 200
    got = response.json()
    assert list(got) == list(documented)
    assert set(got["agent"]) == set(documented["agent"])
    assert got["agent"]["name"] == documented["agent"]["name"]
    assert got["agent"]["status"] == documented["agent"]["status"]
    for field in ("response", "messages"):
        assert set(got[field][0]) == set(documented[field][0])
    assert got["dynamicVariables"] == request["dynamicVariables"]
    assert isinstance(got["transcript"], str)


def test_error_body_example(client: httpx.Client) -> None:
    response = client.post("/v1/chats", json={"input": "Hi"})
    got = response.json()
    assert list(got) == list(ERROR_EXAMPLE)
    assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in ERROR_EXAMPLE.items()}
    assert (got["error"], got["status"], got["path"]) == ("Bad Request", 400, "/v1/chats")
    assert len(got["timestamp"]) == len(ERROR_EXAMPLE["timestamp"])
