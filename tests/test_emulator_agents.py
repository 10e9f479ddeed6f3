"""The emulator's agent endpoints, auth and errors, in process and over a loopback socket."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sigmaform.emulator import EmulatorApp, running
from sigmaform.emulator.agents import DEFAULT_SETTINGS

KEY = "test-key-agents"
WEBHOOK = {"name": "events", "url": "https://hooks.example/x", "events": ["conversation_started"]}


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


def create(client: httpx.Client, **body: Any) -> dict[str, Any]:
    body.setdefault("agentName", "Support")
    response = client.post("/v1/agents", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def assert_error(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "message", "path", "status", "timestamp"}
    assert body["status"] == status
    assert body["path"] == (response.request.url.path.rstrip("/") or "/")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["timestamp"])
    for word in words:
        assert word in body["message"]
    return body


def test_create_assigns_ids_and_server_defaults(client: httpx.Client) -> None:
    agent = create(client, instructions="Be nice.", agentSettings={"llmModel": "gpt-4o"})
    assert re.fullmatch(r"[A-Za-z0-9]{16}", agent["agentId"])
    assert agent["status"] == "Live"
    assert agent["createdAt"] == agent["updatedAt"]
    assert agent["welcomeMessageType"] == "static"
    assert agent["tools"] == []
    settings = agent["agentSettings"]
    assert settings["llmModel"] == "gpt-4o"
    for name, value in DEFAULT_SETTINGS.items():
        assert settings[name] == value, name
    assert settings["llmTemperature"] == 0.5
    assert settings["agentTimezone"] == "UTC"
    assert settings["webhooks"] == []


def test_create_accepts_both_name_sets_and_answers_with_update_names(
    client: httpx.Client,
) -> None:
    item = {"insightName": "summary", "dataType": "string"}
    create_names = create(
        client,
        agentSettings={
            "enablePostConversationInsights": True,
            "postConversationInsightsLlmModel": "gpt-4o-mini",
            "postConversationInsights": [{**item, "analysisInstructions": "Summarise."}],
        },
    )["agentSettings"]
    update_names = create(
        client,
        agentSettings={
            "enablePostConversationAnalysis": True,
            "postConversationAnalysisLlmModel": "gpt-4o-mini",
            "postConversationAnalysis": [{**item, "insightInstructions": "Summarise."}],
        },
    )["agentSettings"]
    for settings in (create_names, update_names):
        assert settings["enablePostConversationAnalysis"] is True
        assert settings["postConversationAnalysisLlmModel"] == "gpt-4o-mini"
        assert settings["postConversationAnalysis"] == [
            {**item, "insightInstructions": "Summarise."}
        ]
        assert not any("Insights" in name for name in settings)


def test_unknown_fields_are_ignored_and_not_echoed(client: httpx.Client) -> None:
    agent = create(client, colour="blue", agentSettings={"flavour": 1})
    assert "colour" not in agent
    assert "flavour" not in agent["agentSettings"]


def test_embedded_webhooks_get_ids_secrets_and_active(client: httpx.Client) -> None:
    given = {**WEBHOOK, "name": "mine", "secret": "s3cret"}
    agent = create(client, agentSettings={"webhooks": [WEBHOOK, given]})
    first, second = agent["agentSettings"]["webhooks"]
    assert re.fullmatch(r"wh_[A-Za-z0-9]{16}", first["webhookId"])
    assert first["secret"].startswith("whsec_")
    assert first["active"] is True
    assert second["secret"] == "s3cret"
    assert first["webhookId"] != second["webhookId"]


def test_get_and_list_with_pagination(client: httpx.Client) -> None:
    ids = [create(client, agentName=f"agent {n}")["agentId"] for n in range(25)]
    assert client.get(f"/v1/agents/{ids[3]}").json()["agentName"] == "agent 3"
    pages = [client.get("/v1/agents", params={"page": p, "size": 10}).json() for p in range(3)]
    assert [len(page["data"]) for page in pages] == [10, 10, 5]
    assert [page["hasNext"] for page in pages] == [True, True, False]
    assert [page["hasPrevious"] for page in pages] == [False, True, True]
    assert {page["totalCount"] for page in pages} == {25}
    assert {page["totalPages"] for page in pages} == {3}
    assert [a["agentId"] for page in pages for a in page["data"]] == ids
    default = client.get("/v1/agents").json()
    assert (default["page"], default["size"], len(default["data"])) == (0, 10, 10)
    beyond = client.get("/v1/agents", params={"page": 7}).json()
    assert beyond["data"] == [] and beyond["hasNext"] is False


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"page": "-1"}, ["page"]),
        ({"page": "x"}, ["page", "integer"]),
        ({"size": "0"}, ["size"]),
        ({"size": "101"}, ["size"]),
    ],
)
def test_bad_page_parameters_are_400(
    client: httpx.Client, query: dict[str, str], words: list[str]
) -> None:
    assert_error(client.get("/v1/agents", params=query), 400, *words)


def test_patch_merges_top_level_and_settings_by_default(client: httpx.Client) -> None:
    agent = create(client, instructions="Old.", agentSettings={"llmModel": "a", "voiceId": "v"})
    response = client.patch(
        f"/v1/agents/{agent['agentId']}", json={"agentSettings": {"llmModel": "b"}}
    )
    assert response.status_code == 200
    patched = response.json()
    assert patched["instructions"] == "Old."
    assert patched["agentSettings"]["llmModel"] == "b"
    assert patched["agentSettings"]["voiceId"] == "v"
    assert patched["createdAt"] == agent["createdAt"]
    assert client.get(f"/v1/agents/{agent['agentId']}").json() == patched


def test_patch_replace_mode_replaces_settings_and_reapplies_defaults() -> None:
    app = EmulatorApp(settings_patch="replace")
    transport = httpx.WSGITransport(app=app)
    with httpx.Client(transport=transport, base_url="http://e", headers={"X-API-Key": KEY}) as c:
        settings = {"llmModel": "a", "voiceId": "v", "llmTopK": 7, "webhooks": [WEBHOOK]}
        agent = create(c, agentSettings=settings)
        patched = c.patch(
            f"/v1/agents/{agent['agentId']}", json={"agentSettings": {"llmModel": "b"}}
        ).json()["agentSettings"]
    assert patched["llmModel"] == "b"
    assert "voiceId" not in patched
    assert patched["llmTopK"] == 40
    assert patched["webhooks"] == []


def test_patch_arrays_replace_whole_and_webhook_ids_stay(client: httpx.Client) -> None:
    other = {**WEBHOOK, "name": "other", "url": "https://hooks.example/y"}
    agent = create(
        client,
        tools=[{"type": "voice_transfer_call", "transferTo": "+14155550100"}],
        agentSettings={"webhooks": [WEBHOOK, other]},
    )
    first, second = agent["agentSettings"]["webhooks"]
    sent = [
        {**WEBHOOK, "webhookId": first["webhookId"], "events": ["conversation_ended"]},
        {**WEBHOOK, "name": "new"},
    ]
    patched = client.patch(
        f"/v1/agents/{agent['agentId']}", json={"tools": [], "agentSettings": {"webhooks": sent}}
    ).json()
    assert patched["tools"] == []
    kept, added = patched["agentSettings"]["webhooks"]
    assert kept["webhookId"] == first["webhookId"]
    assert kept["secret"] == first["secret"]
    assert kept["events"] == ["conversation_ended"]
    assert added["webhookId"] not in (first["webhookId"], second["webhookId"])
    assert client.get(f"/v1/webhooks/{second['webhookId']}").status_code == 404
    assert client.get(f"/v1/webhooks/{kept['webhookId']}").json()["agentId"] == agent["agentId"]


def test_patch_with_a_foreign_webhook_id_gets_a_new_id(client: httpx.Client) -> None:
    one = create(client, agentSettings={"webhooks": [WEBHOOK]})
    foreign = one["agentSettings"]["webhooks"][0]["webhookId"]
    two = create(client)
    body = {"agentSettings": {"webhooks": [{**WEBHOOK, "webhookId": foreign}]}}
    items = client.patch(f"/v1/agents/{two['agentId']}", json=body).json()["agentSettings"]
    assert items["webhooks"][0]["webhookId"] != foreign


def test_delete_agent(client: httpx.Client) -> None:
    agent = create(client, agentSettings={"webhooks": [WEBHOOK]})
    webhook_id = agent["agentSettings"]["webhooks"][0]["webhookId"]
    response = client.delete(f"/v1/agents/{agent['agentId']}")
    assert response.status_code == 204
    assert response.content == b""
    assert_error(client.get(f"/v1/agents/{agent['agentId']}"), 404, agent["agentId"])
    assert client.get(f"/v1/webhooks/{webhook_id}").status_code == 404
    assert_error(client.delete(f"/v1/agents/{agent['agentId']}"), 404)


BAD_AGENT_BODIES = [
    ({"agentName": ""}, "agentName must not be empty"),
    ({"agentName": "x" * 129}, "agentName must be at most 128"),
    ({"agentName": 5}, "agentName must be a string, not number"),
    ({"instructions": ["a"]}, "instructions must be a string, not array"),
    ({"welcomeMessageType": "dynamic"}, "welcomeMessageType must be one of static, prompt"),
    ({"agentSettings": []}, "agentSettings must be a object, not array"),
    ({"agentSettings": {"llmTemperature": "hot"}}, "agentSettings.llmTemperature must be a number"),
    ({"agentSettings": {"ivrHangup": 1}}, "agentSettings.ivrHangup must be a boolean"),
    ({"agentSettings": {"llmModel": None}}, "agentSettings.llmModel must be a string, not null"),
    ({"agentSettings": {"webhooks": {}}}, "agentSettings.webhooks must be a array"),
    (
        {"agentSettings": {"webhooks": [{**WEBHOOK, "events": ["call_started"]}]}},
        "agentSettings.webhooks[0].events[0] must be one of",
    ),
    ({"agentSettings": {"webhooks": [{**WEBHOOK, "events": []}]}}, "at least one event"),
    (
        {"agentSettings": {"webhooks": [{**WEBHOOK, "url": "ftp://x"}]}},
        "agentSettings.webhooks[0].url must be an http(s) URL",
    ),
    ({"agentSettings": {"webhooks": [{"name": "x"}]}}, "agentSettings.webhooks[0].url is required"),
    (
        {"agentSettings": {"postConversationAnalysis": [{"options": [1]}]}},
        "agentSettings.postConversationAnalysis[0].options[0] must be a string",
    ),
    (
        {"tools": [{"type": "voice_transfer_call", "transferTo": "0800 123"}]},
        "tools[0].transferTo must be an E.164 phone number",
    ),
    ({"tools": ["x"]}, "tools[0] must be a object"),
]


@pytest.mark.parametrize(("body", "message"), BAD_AGENT_BODIES)
def test_create_and_patch_validate_fields(
    client: httpx.Client, body: dict[str, Any], message: str
) -> None:
    assert_error(client.post("/v1/agents", json=body), 400, message)
    agent = create(client)
    assert_error(client.patch(f"/v1/agents/{agent['agentId']}", json=body), 400, message)


def test_transfer_to_may_be_a_variable(client: httpx.Client) -> None:
    tool = {"type": "voice_transfer_call", "transferTo": "{{ manager_phone }}"}
    assert create(client, tools=[tool])["tools"] == [tool]


def test_malformed_json_and_non_object_bodies_are_400(client: httpx.Client) -> None:
    headers = {"Content-Type": "application/json"}
    assert_error(client.post("/v1/agents", content=b"{nope", headers=headers), 400, "malformed")
    assert_error(client.post("/v1/agents", json=[1]), 400, "JSON object")
    assert_error(client.post("/v1/agents"), 400, "JSON object")


def test_unknown_routes_ids_and_methods(client: httpx.Client) -> None:
    assert_error(client.get("/v1/nothing"), 404, "/v1/nothing")
    assert_error(client.get("/"), 404)
    assert_error(client.patch("/v1/agents/NoSuchAgent", json={}), 404, "NoSuchAgent")
    assert_error(client.get("/v1/agents/..%2F..%2Fetc"), 404)
    assert_error(client.get("/v1/agents/a.b"), 404, "no object with id 'a.b'")
    response = client.put("/v1/agents", json={})
    assert_error(response, 405, "PUT")
    assert response.headers["Allow"] == "GET, POST"


def test_auth_missing_and_unknown_keys_are_401() -> None:
    app = EmulatorApp(api_keys={"good"})
    transport = httpx.WSGITransport(app=app)
    with httpx.Client(transport=transport, base_url="http://e") as c:
        assert_error(c.get("/v1/agents"), 401, "missing X-API-Key")
        assert_error(c.get("/v1/agents", headers={"X-API-Key": "bad"}), 401, "invalid API key")
        assert c.get("/v1/agents", headers={"X-API-Key": "good"}).status_code == 200
    assert "good" not in repr(app)


def test_each_key_is_its_own_workspace() -> None:
    app = EmulatorApp()
    transport = httpx.WSGITransport(app=app)
    with httpx.Client(transport=transport, base_url="http://e") as c:
        a = c.post("/v1/agents", json={"agentName": "A"}, headers={"X-API-Key": "one"}).json()
        assert c.get(f"/v1/agents/{a['agentId']}", headers={"X-API-Key": "two"}).status_code == 404
        assert c.get("/v1/agents", headers={"X-API-Key": "two"}).json()["totalCount"] == 0
        assert c.get("/v1/agents", headers={"X-API-Key": "one"}).json()["totalCount"] == 1


def test_journal_records_requests_without_the_key(
    app_client: tuple[EmulatorApp, httpx.Client],
) -> None:
    app, client = app_client
    app.journal.clear()
    create(client, agentName="J")
    client.get("/v1/agents", params={"page": 0})
    first, second = app.journal.entries
    assert (first.method, first.path, first.status, first.body) == (
        "POST",
        "/v1/agents",
        201,
        {"agentName": "J"},
    )
    assert (second.method, second.query, second.body) == ("GET", "page=0", None)
    assert KEY not in repr(app.journal.entries)
