"""The emulator's phone number, chat and webhook endpoints, in process and over a socket."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sigmaform.emulator import EmulatorApp, running

KEY = "test-key-resources"
NUMBER = "+14155550123"
WEBHOOK = {"name": "events", "url": "https://hooks.example/x", "events": ["conversation_ended"]}


@pytest.fixture(params=["wsgi", "socket"])
def app_client(request: pytest.FixtureRequest) -> Iterator[tuple[EmulatorApp, httpx.Client]]:
    app = EmulatorApp()
    headers = {"X-API-Key": KEY}
    if request.param == "wsgi":
        transport = httpx.WSGITransport(app=app)
        with httpx.Client(transport=transport, base_url="http://emulator", headers=headers) as c:
            yield app, c
        return
    with running(app) as base, httpx.Client(base_url=base, headers=headers) as c:
        yield app, c


@pytest.fixture
def client(app_client: tuple[EmulatorApp, httpx.Client]) -> httpx.Client:
    return app_client[1]


@pytest.fixture
def agent_id(client: httpx.Client) -> str:
    response = client.post("/v1/agents", json={"agentName": "Support"})
    assert response.status_code == 201
    return str(response.json()["agentId"])


def assert_error(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message", "path", "status", "timestamp"}
    assert body["status"] == status
    for word in words:
        assert word in body["message"], body["message"]


# --- phone numbers -------------------------------------------------------------------


def test_import_list_get_and_patch_a_number(client: httpx.Client, agent_id: str) -> None:
    imported = client.post(
        "/v1/phone-numbers/import",
        json={
            "phoneNumber": NUMBER,
            "friendlyName": "Main",
            "inboundAgentId": agent_id,
            "terminationSipURI": "sip.example.com",
            "trunkUsername": "u",
            "trunkPassword": "p",
        },
    )
    assert imported.status_code == 200
    record = imported.json()
    # As the docs' PhoneNumber object: the number is `sipPhoneNumber`, never `phoneNumber`.
    assert record == {
        "sipPhoneNumber": NUMBER,
        "friendlyName": "Main",
        "inboundAgentId": agent_id,
        "outboundAgentId": None,
        "outboundPhoneNumber": None,
        "provider": "byo",
        "active": True,
        "terminationSipURI": "sip.example.com",
    }
    listed = client.get("/v1/phone-numbers").json()
    assert listed["data"] == [record]
    assert listed["totalCount"] == 1
    assert client.get("/v1/phone-numbers/%2B14155550123").json() == record

    patched = client.patch(
        "/v1/phone-numbers/%2B14155550123",
        json={"outboundAgentId": agent_id, "terminationSipUri": "sip2.example.com"},
    ).json()
    assert patched["inboundAgentId"] == agent_id  # omitted: unchanged
    assert patched["outboundAgentId"] == agent_id
    assert patched["terminationSipURI"] == "sip2.example.com"
    assert patched["friendlyName"] == "Main"
    cleared = client.patch(f"/v1/phone-numbers/{NUMBER}", json={"inboundAgentId": None}).json()
    assert cleared["inboundAgentId"] is None
    assert cleared["outboundAgentId"] == agent_id


def test_seeded_number_and_patch_with_literal_plus(
    app_client: tuple[EmulatorApp, httpx.Client], agent_id: str
) -> None:
    app, client = app_client
    app.seed_phone_number(KEY, NUMBER, "Seeded")
    response = client.patch(f"/v1/phone-numbers/{NUMBER}", json={"friendlyName": "Renamed"})
    assert response.status_code == 200
    assert response.json()["friendlyName"] == "Renamed"
    with pytest.raises(ValueError, match="already exists"):
        app.seed_phone_number(KEY, NUMBER)
    with pytest.raises(ValueError, match=r"E\.164"):
        app.seed_phone_number(KEY, "555-0123")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "phoneNumber is required"),
        ({"phoneNumber": "4155550123"}, "phoneNumber must be a phone number in E.164"),
        ({"phoneNumber": NUMBER, "friendlyName": "x" * 129}, "friendlyName must be at most 128"),
        ({"phoneNumber": NUMBER, "inboundAgentId": "Nobody"}, "inboundAgentId: no agent"),
        ({"phoneNumber": NUMBER, "outboundAgentId": 3}, "outboundAgentId must be a string"),
        ({"phoneNumber": NUMBER, "outboundPhoneNumber": "12"}, "outboundPhoneNumber must be"),
    ],
)
def test_import_validation(client: httpx.Client, body: dict[str, Any], message: str) -> None:
    assert_error(client.post("/v1/phone-numbers/import", json=body), 400, message)


def test_duplicate_import_is_409(client: httpx.Client) -> None:
    assert client.post("/v1/phone-numbers/import", json={"phoneNumber": NUMBER}).status_code == 200
    response = client.post("/v1/phone-numbers/import", json={"phoneNumber": NUMBER})
    assert_error(response, 409, "already exists")


def test_patch_number_errors(client: httpx.Client) -> None:
    assert_error(client.patch(f"/v1/phone-numbers/{NUMBER}", json={}), 404, NUMBER)
    assert_error(client.patch("/v1/phone-numbers/not-a-number", json={}), 404)
    client.post("/v1/phone-numbers/import", json={"phoneNumber": NUMBER})
    response = client.patch(f"/v1/phone-numbers/{NUMBER}", json={"inboundAgentId": "Nobody"})
    assert_error(response, 400, "inboundAgentId: no agent with id 'Nobody'")
    response = client.patch(f"/v1/phone-numbers/{NUMBER}", json={"terminationSipUri": 5})
    assert_error(response, 400, "terminationSipUri must be a string")
    assert_error(client.delete(f"/v1/phone-numbers/{NUMBER}"), 405)


# --- chats ---------------------------------------------------------------------------


def start_chat(client: httpx.Client, agent_id: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/v1/chats", json={"agentId": agent_id, "input": "Hello", **extra})
    assert response.status_code == 201, response.text
    chat: dict[str, Any] = response.json()
    return chat


def test_create_get_message_and_end_a_chat(client: httpx.Client, agent_id: str) -> None:
    chat = start_chat(client, agent_id, dynamicVariables={"customer_name": "Michael"})
    assert re.fullmatch(r"chat_[A-Za-z0-9]{16}", chat["chatId"])
    assert chat["agent"] == {"name": "Support", "agentId": agent_id, "status": "Live"}
    assert chat["status"] == "in_progress"
    assert chat["dynamicVariables"] == {"customer_name": "Michael"}
    (reply,) = chat["response"]
    assert reply["role"] == "assistant" and reply["type"] == "message"
    assert re.fullmatch(r"item_[A-Za-z0-9]{16}", reply["id"])
    assert chat["messages"][-1] == reply
    assert "Hello" in chat["transcript"]
    assert client.get(f"/v1/chats/{chat['chatId']}").json() == chat

    more = client.post("/v1/chats/response", json={"chatId": chat["chatId"], "input": "More"})
    assert more.status_code == 200
    assert len(more.json()["messages"]) == 4

    ended = client.post(f"/v1/chats/{chat['chatId']}/end")
    assert ended.status_code == 200
    assert ended.json()["status"] == "ended"
    assert_error(client.post(f"/v1/chats/{chat['chatId']}/end"), 409, "ended")
    response = client.post("/v1/chats/response", json={"chatId": chat["chatId"], "input": "x"})
    assert_error(response, 409)


def test_patch_chat(client: httpx.Client, agent_id: str) -> None:
    other = client.post("/v1/agents", json={"agentName": "Sales"}).json()["agentId"]
    chat = start_chat(client, agent_id, dynamicVariables={"a": "1", "b": "2"})
    patched = client.patch(
        f"/v1/chats/{chat['chatId']}", json={"agentId": other, "dynamicVariables": {"a": "3"}}
    ).json()
    assert patched["agent"]["agentId"] == other
    assert patched["agent"]["name"] == "Sales"
    assert patched["dynamicVariables"] == {"a": "3"}
    only_vars = client.patch(f"/v1/chats/{chat['chatId']}", json={"dynamicVariables": {}}).json()
    assert only_vars["agent"]["agentId"] == other
    response = client.patch(f"/v1/chats/{chat['chatId']}", json={"agentId": "Nobody"})
    assert_error(response, 400, "agentId: no agent with id 'Nobody'")
    client.post(f"/v1/chats/{chat['chatId']}/end")
    response = client.patch(f"/v1/chats/{chat['chatId']}", json={"dynamicVariables": {}})
    assert_error(response, 409, "only an in_progress chat")
    assert_error(client.patch("/v1/chats/chat_missing", json={}), 404, "chat_missing")


def test_list_chats_uses_total_counts(client: httpx.Client, agent_id: str) -> None:
    chats = [start_chat(client, agent_id)["chatId"] for _ in range(3)]
    client.post(f"/v1/chats/{chats[0]}/end")
    page = client.get("/v1/chats", params={"size": 2}).json()
    assert page["totalCounts"] == 3 and "totalCount" not in page
    assert [c["chatId"] for c in page["data"]] == chats[:2]
    assert page["hasNext"] is True
    ended = client.get("/v1/chats", params={"status": "ended"}).json()
    assert [c["chatId"] for c in ended["data"]] == chats[:1]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"input": "x"}, "agentId is required"),
        ({"agentId": "Nobody", "input": "x"}, "agentId: no agent with id 'Nobody'"),
        ({"agentId": "AGENT"}, "input is required"),
        ({"agentId": "AGENT", "input": ""}, "input must not be empty"),
        ({"agentId": "AGENT", "input": "x" * 20481}, "input must be at most 20480"),
        ({"agentId": "AGENT", "input": "x", "dynamicVariables": []}, "dynamicVariables must be"),
        ({"agentId": "AGENT", "input": "x", "previousChatId": "chat_no"}, "previousChatId"),
    ],
)
def test_create_chat_validation(
    client: httpx.Client, agent_id: str, body: dict[str, Any], message: str
) -> None:
    body = {k: agent_id if v == "AGENT" else v for k, v in body.items()}
    assert_error(client.post("/v1/chats", json=body), 400, message)


def test_previous_chat_id(client: httpx.Client, agent_id: str) -> None:
    first = start_chat(client, agent_id)
    assert start_chat(client, agent_id, previousChatId=first["chatId"])["chatId"] != first["chatId"]


# --- webhooks ------------------------------------------------------------------------


def test_create_get_list_and_delete_webhooks(client: httpx.Client, agent_id: str) -> None:
    response = client.post("/v1/webhooks", json={**WEBHOOK, "agentId": agent_id})
    assert response.status_code == 200
    webhook = response.json()
    assert re.fullmatch(r"wh_[A-Za-z0-9]{16}", webhook["webhookId"])
    assert webhook["secret"].startswith("whsec_")
    assert webhook["agentId"] == agent_id
    assert webhook["active"] is True
    assert webhook["workspaceId"].startswith("org_")
    assert client.get(f"/v1/webhooks/{webhook['webhookId']}").json() == webhook
    # One table: the standalone webhook is also the agent's embedded webhook.
    agent = client.get(f"/v1/agents/{agent_id}").json()
    assert agent["agentSettings"]["webhooks"][0]["webhookId"] == webhook["webhookId"]

    other = client.post("/v1/agents", json={"agentName": "Other"}).json()["agentId"]
    client.post("/v1/webhooks", json={**WEBHOOK, "agentId": other})
    assert client.get("/v1/webhooks").json()["totalCount"] == 2
    mine = client.get("/v1/webhooks", params={"agentId": agent_id}).json()
    assert [w["webhookId"] for w in mine["data"]] == [webhook["webhookId"]]
    assert client.get("/v1/webhooks", params={"agentId": "Nobody"}).json()["data"] == []

    assert client.delete(f"/v1/webhooks/{webhook['webhookId']}").status_code == 204
    assert_error(client.get(f"/v1/webhooks/{webhook['webhookId']}"), 404)
    assert_error(client.delete(f"/v1/webhooks/{webhook['webhookId']}"), 404)
    assert client.get(f"/v1/agents/{agent_id}").json()["agentSettings"]["webhooks"] == []


def test_list_webhooks_active_filter(client: httpx.Client, agent_id: str) -> None:
    items = [WEBHOOK, {**WEBHOOK, "name": "off", "active": False}]
    client.patch(f"/v1/agents/{agent_id}", json={"agentSettings": {"webhooks": items}})
    assert [w["name"] for w in client.get("/v1/webhooks").json()["data"]] == ["events"]
    inactive = client.get("/v1/webhooks", params={"active": "false"}).json()
    assert [w["name"] for w in inactive["data"]] == ["off"]
    assert_error(client.get("/v1/webhooks", params={"active": "maybe"}), 400, "active")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"agentId": "AGENT", "url": "https://x", "events": ["conversation_ended"]}, "name is"),
        ({"name": "n", "url": "https://x", "events": ["conversation_ended"]}, "agentId is"),
        ({"name": "n", "agentId": "Nobody", **WEBHOOK}, "agentId: no agent"),
        ({"name": "n", "agentId": "AGENT", "events": ["conversation_ended"]}, "url is required"),
        ({**WEBHOOK, "agentId": "AGENT", "url": "mailto:x"}, "url must be an http(s) URL"),
        ({**WEBHOOK, "agentId": "AGENT", "events": "conversation_ended"}, "events must be a"),
        ({**WEBHOOK, "agentId": "AGENT", "events": ["conversation_analyzed"]}, "events[0]"),
        ({**WEBHOOK, "agentId": "AGENT", "name": ""}, "name must not be empty"),
    ],
)
def test_create_webhook_validation(
    client: httpx.Client, agent_id: str, body: dict[str, Any], message: str
) -> None:
    body = {k: agent_id if v == "AGENT" else v for k, v in body.items()}
    assert_error(client.post("/v1/webhooks", json=body), 400, message)
