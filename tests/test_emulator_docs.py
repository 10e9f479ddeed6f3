"""The vendor docs' own examples, replayed against the emulator: same shapes, same names."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sigmaform.emulator import EmulatorApp

KEY = "test-key-docs"
# docs-page-update-agent.txt: the request and response examples, verbatim.
UPDATE_AGENT_REQUEST = {
    "agentName": "Auralis",
    "instructions": (
        "You are a helpful customer support assistant. Answer concisely and professionally."
    ),
    "welcomeMessageType": "static",
    "welcomeMessage": "Welcome to our service! How can I assist you today?",
    "agentSettings": {
        "language": "en_US",
        "aiStartsConversation": True,
        "backgroundSound": "keyboard_typing",
        "globalPrompt": (
            "You are a professional virtual assistant. "
            "Always respond politely and keep answers concise."
        ),
        "remindersIntervalDuration": 15,
        "remindersLimit": 3,
        "endCallOnSilenceDuration": 30,
        "maxCallDuration": 40,
        "llmModel": "gpt-4o-mini",
        "llmTemperature": 0.5,
        "llmTopP": 0.5,
        "llmTopK": 40,
        "voiceId": "elevenlabs_SGbOfpm28edC83pZ9iGb",
        "voiceModelId": "eleven_turbo_v2_5",
        "ttsSpeed": 0.7,
        "ttsTemperature": 0.5,
        "ttsVolume": 0.5,
        "aiStartsSpeakingPlan": 0.5,
        "aiStopsSpeakingPlan": 0.5,
        "ivrHangup": True,
        "agentTimezone": "Asia/Kolkata",
        "autoVolumeNormalization": True,
        "backgroundNoiseFilter": True,
        "echoCancellation": True,
        "enablePostConversationAnalysis": True,
        "postConversationAnalysisLlmModel": "gpt-4o-mini",
        "postConversationAnalysis": [
            {
                "insightName": "conversation summary",
                "insightInstructions": "<string>",
                "dataType": "string",
                "options": ["Interested", "Not Interested", "Follow Up Later"],
            }
        ],
        "webhooks": [
            {
                "name": "Call Events - Production",
                "url": "https://yourapp.com/webhooks/sigmamind",
                "events": ["conversation_started", "conversation_ended"],
                "webhookId": "wh_BUbkx3PsbzQm5V10",
            }
        ],
    },
    "tools": [
        {
            "type": "voice_transfer_call",
            "transferTo": "+9187788XXXXX",
            "instruction": "<string>",
            "transferToRouting": "static",
            "extensionNumber": "1234",
            "nodeId": "<string>",
            "toolName": "<string>",
        }
    ],
}
UPDATE_AGENT_RESPONSE = {
    "agentId": "SPIlVscbB0kkXBvZ",
    "agentName": "Auralis",
    "instructions": (
        "You are a helpful customer support assistant. Answer concisely and professionally."
    ),
    "welcomeMessageType": "static",
    "welcomeMessage": "Welcome to our service! How can I assist you today?",
    "agentSettings": {
        "language": "en_US",
        "aiStartsConversation": True,
        "backgroundSound": "keyboard_typing",
        "globalPrompt": (
            "You are a professional virtual assistant. "
            "Always respond politely and keep answers concise."
        ),
        "remindersIntervalDuration": 15,
        "remindersLimit": 3,
        "endCallOnSilenceDuration": 30,
        "maxCallDuration": 40,
        "llmModel": "gpt-4o-mini",
        "llmTemperature": 0.5,
        "llmTopP": 0.5,
        "llmTopK": 40,
        "voiceId": "elevenlabs_SGbOfpm28edC83pZ9iGb",
        "voiceModelId": "eleven_turbo_v2_5",
        "ttsSpeed": 0.7,
        "ttsTemperature": 0.5,
        "ttsVolume": 0.5,
        "aiStartsSpeakingPlan": 0.5,
        "aiStopsSpeakingPlan": 0.5,
        "ivrHangup": True,
        "agentTimezone": "Asia/Kolkata",
        "autoVolumeNormalization": True,
        "backgroundNoiseFilter": True,
        "echoCancellation": True,
        "enablePostConversationAnalysis": True,
        "postConversationAnalysisLlmModel": "gpt-4o-mini",
        "postConversationAnalysis": [
            {
                "insightName": "conversation summary",
                "insightInstructions": "<string>",
                "dataType": "string",
                "options": ["Interested", "Not Interested", "Follow Up Later"],
            }
        ],
        "webhooks": [
            {
                "webhookId": "wh_BUbkx3PsbzQm5V10",
                "name": "My Webhook",
                "url": "https://example.com/webhook",
                "secret": "mK9vXq2pL8nR5tY1wA3sD6fH0jC4bE7u",
                "events": ["<string>"],
            }
        ],
    },
    "tools": [
        {
            "type": "voice_transfer_call",
            "nodeId": "<string>",
            "toolName": "<string>",
            "instruction": "<string>",
            "transferToRouting": "static",
            "transferTo": "+9187788XXXXX",
            "extensionNumber": "1234",
            "transferSettings": {
                "transferType": "warm",
                "ringingDuration": 40,
                "waitForParticipantAnswer": True,
                "enableWhisperMessage": True,
                "whisperMessage": "<string>",
                "whisperMessageType": "static",
                "enableThreeWayMessage": True,
                "threeWayMessage": "<string>",
                "threeWayMessageType": "static",
                "customHeaders": {},
            },
        }
    ],
}

# docs-page-update-chat.txt: the request and response examples, verbatim.
UPDATE_CHAT_REQUEST = {
    "agentId": "D5D0p7TUs66TTAEAx",
    "dynamicVariables": {"customer_name": "Michael"},
}
UPDATE_CHAT_RESPONSE = {
    "chatId": "chat-d17T6uReChpyfFeP",
    "agent": {"name": "New AI Agent", "agentId": "agent_D5D0p7TUs66TTAEAx", "status": "Live"},
    "createdAt": "2021-04-20T10:00:00.000Z",
    "status": "ended",
    "transcript": "<string>",
    "response": [
        {
            "id": "item_G9YdhDqua0EngI1G",
            "role": "assistant",
            "type": "message",
            "content": [
                "Hello! My name is Grace, and I'm calling on behalf of SigmaMind AI. "
                "Am I speaking with Michael?"
            ],
        }
    ],
    "messages": [
        {
            "id": "item_G9YdhDqua0EngI1G",
            "role": "assistant",
            "type": "message",
            "content": [
                "Hello! My name is Grace, and I'm calling on behalf of SigmaMind AI. "
                "Am I speaking with Michael?"
            ],
        }
    ],
    "dynamicVariables": {"customer_name": "Michael", "account_id": "ACC-001"},
}
EXAMPLES = {
    "docs-page-update-agent.txt": (UPDATE_AGENT_REQUEST, UPDATE_AGENT_RESPONSE),
    "docs-page-update-chat.txt": (UPDATE_CHAT_REQUEST, UPDATE_CHAT_RESPONSE),
}
# sigmamind-api.md section 3.2, verbatim.
ERROR_EXAMPLE = json.loads(
    '{"error": "Bad Request", "message": "Invalid request parameters", "path": "/v1/calls",'
    ' "status": 400, "timestamp": "2026-05-05T10:06:43.893Z"}'
)


def example(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A docs page's request and response examples (fresh copies: tests may change them)."""
    request, response = EXAMPLES[name]
    return copy.deepcopy(request), copy.deepcopy(response)


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
