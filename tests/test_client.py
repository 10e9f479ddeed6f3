"""The API client against the emulator, in process and over a real loopback socket."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from test_emulator_cli import first_line, free_port

from sigmaform.client import FIRST_CONTACT_ATTEMPTS, Client, RetryPolicy
from sigmaform.emulator import EmulatorApp, JournalEntry, running
from sigmaform.errors import ApiError
from sigmaform.resource import Environment
from sigmaform.sensitive import Sensitive

KEY = "sk-live-4f8a1c2e9b7d"
WEBHOOK_SECRET = "whsec-0d1e2f3a4b5c"
FAST = RetryPolicy(max_elapsed_s=10.0, base_delay_s=0.005, max_delay_s=0.05, max_attempts=5)
NUMBER = "+14155550123"


@dataclass
class Harness:
    """One emulator and a way to make clients that reach it (in process or over a socket)."""

    app: EmulatorApp
    base_url: str
    in_process: bool

    def client(self, key: str | None = KEY, **kwargs: Any) -> Client:
        kwargs.setdefault("retry", FAST)
        transport = httpx.WSGITransport(app=self.app) if self.in_process else None
        return Client(self.base_url, key, transport=transport, **kwargs)

    def entries(self, method: str, path: str) -> list[JournalEntry]:
        return [e for e in self.app.journal.entries if e.method == method and e.path == path]


@contextlib.contextmanager
def harness_for(app: EmulatorApp, mode: str) -> Iterator[Harness]:
    if mode == "wsgi":
        yield Harness(app, "http://sigmamind.local", in_process=True)
    else:
        with running(app) as base_url:
            yield Harness(app, base_url, in_process=False)


@pytest.fixture(params=["wsgi", "socket"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    with harness_for(EmulatorApp(), request.param) as h:
        yield h


@pytest.fixture
def client(harness: Harness) -> Iterator[Client]:
    with harness.client() as c:
        yield c


def agent_body(name: str = "Acme Support", **extra: Any) -> dict[str, Any]:
    return {
        "agentName": name,
        "instructions": f"You are {name}.",
        "welcomeMessageType": "static",
        "welcomeMessage": "Hi, how can I help, {{customer_name}}?",
        "agentSettings": {"language": "en_US", "llmModel": "gpt-4o-mini"},
        **extra,
    }


# -- agents ------------------------------------------------------------------------------


def test_agent_lifecycle(harness: Harness, client: Client) -> None:
    created = client.create_agent(agent_body())
    agent_id = created["agentId"]
    assert created["agentName"] == "Acme Support"
    assert created["agentSettings"]["llmModel"] == "gpt-4o-mini"

    assert client.get_agent(agent_id) == created

    updated = client.update_agent(agent_id, {"agentSettings": {"llmModel": "gpt-4o"}})
    assert updated["agentSettings"]["llmModel"] == "gpt-4o"
    assert updated["agentSettings"]["language"] == "en_US"
    [patch] = harness.entries("PATCH", f"/v1/agents/{agent_id}")
    assert patch.body == {"agentSettings": {"llmModel": "gpt-4o"}}

    assert [a["agentId"] for a in client.list_agents()] == [agent_id]

    client.delete_agent(agent_id)
    assert client.get_agent(agent_id) is None
    client.delete_agent(agent_id)  # already gone: not an error
    deletes = harness.entries("DELETE", f"/v1/agents/{agent_id}")
    assert [e.status for e in deletes] == [204, 404]
    assert client.list_agents() == []


def test_create_sends_the_create_page_names_and_returns_canonical_ones(
    harness: Harness, client: Client
) -> None:
    settings = {
        "enablePostConversationAnalysis": True,
        "postConversationAnalysisLlmModel": "gpt-4o-mini",
        "postConversationAnalysis": [
            {"insightName": "summary", "insightInstructions": "Summarise", "dataType": "string"}
        ],
    }
    created = client.create_agent(agent_body(agentSettings=settings))

    [post] = harness.entries("POST", "/v1/agents")
    sent = post.body["agentSettings"]
    assert sent["enablePostConversationInsights"] is True
    assert sent["postConversationInsightsLlmModel"] == "gpt-4o-mini"
    assert sent["postConversationInsights"][0]["analysisInstructions"] == "Summarise"
    assert "postConversationAnalysis" not in sent

    got = created["agentSettings"]
    assert got["enablePostConversationAnalysis"] is True
    assert got["postConversationAnalysis"][0]["insightInstructions"] == "Summarise"
    assert "postConversationInsights" not in got


def test_list_follows_pagination_to_the_end(harness: Harness, client: Client) -> None:
    names = [f"agent-{i:03d}" for i in range(250)]
    results = client.map_concurrent(lambda n: client.create_agent(agent_body(n)), names)
    assert not [r for r in results if isinstance(r, BaseException)]

    listed = client.list_agents()
    assert sorted(a["agentName"] for a in listed) == names
    pages = [parse_qs(e.query) for e in harness.entries("GET", "/v1/agents")]
    assert pages == [{"page": [str(p)], "size": ["100"]} for p in range(3)]


def test_find_agents_by_name(client: Client) -> None:
    client.create_agent(agent_body("alpha"))
    beta = client.create_agent(agent_body("beta"))
    assert client.find_agents_by_name("beta") == [beta]
    assert client.find_agents_by_name("gamma") == []


def test_map_concurrent_keeps_order_and_returns_exceptions(client: Client) -> None:
    def check(n: int) -> int:
        if n % 3 == 0:
            raise ValueError(f"bad {n}")
        return n * 10

    results = client.map_concurrent(check, list(range(7)))
    assert [r if not isinstance(r, BaseException) else str(r) for r in results] == [
        "bad 0",
        10,
        20,
        "bad 3",
        40,
        50,
        "bad 6",
    ]
    assert client.map_concurrent(check, []) == []


# -- phone numbers and chats -------------------------------------------------------------


def test_phone_numbers(harness: Harness, client: Client) -> None:
    harness.app.seed_phone_number(KEY, NUMBER, "Main line")
    agent = client.create_agent(agent_body())

    number = client.get_phone_number(NUMBER)
    assert number is not None and number["friendlyName"] == "Main line"
    assert [n["sipPhoneNumber"] for n in client.list_phone_numbers()] == [NUMBER]

    updated = client.update_phone_number(
        NUMBER, {"friendlyName": "Front desk", "inboundAgentId": agent["agentId"]}
    )
    assert updated["inboundAgentId"] == agent["agentId"]
    [patch] = harness.entries("PATCH", f"/v1/phone-numbers/{NUMBER}")
    assert patch.status == 200

    fetched = client.get_phone_number(NUMBER)
    assert fetched is not None and fetched["friendlyName"] == "Front desk"


def test_unknown_phone_number_is_none_after_scanning_the_list(
    harness: Harness, client: Client
) -> None:
    harness.app.seed_phone_number(KEY, NUMBER)
    assert client.get_phone_number("+14155550999") is None
    # A 404 may mean "no such route" on the real service, so the list was consulted.
    assert harness.entries("GET", "/v1/phone-numbers")


def test_chats(client: Client) -> None:
    first = client.create_agent(agent_body("first"))
    second = client.create_agent(agent_body("second"))
    chat = client.create_chat(first["agentId"], "Hello", {"customer_name": "Ada"})
    chat_id = chat["chatId"]

    got = client.get_chat(chat_id)
    assert got is not None and got["agent"]["agentId"] == first["agentId"]

    updated = client.update_chat(
        chat_id, {"agentId": second["agentId"], "dynamicVariables": {"customer_name": "Michael"}}
    )
    assert updated["agent"]["agentId"] == second["agentId"]
    assert updated["dynamicVariables"] == {"customer_name": "Michael"}
    assert client.get_chat("chat_doesnotexist") is None


# -- errors ------------------------------------------------------------------------------


def test_400_carries_the_server_message(client: Client) -> None:
    with pytest.raises(ApiError) as caught:
        client.create_agent(agent_body(welcomeMessageType="sometimes"))
    assert caught.value.status == 400
    assert str(caught.value) == (
        "POST /v1/agents -> 400: welcomeMessageType must be one of static, prompt"
    )


def test_404_on_update_carries_the_server_message(client: Client) -> None:
    with pytest.raises(ApiError) as caught:
        client.update_agent("nope", {"agentName": "x"})
    assert caught.value.status == 404
    assert caught.value.message == "no agent with id 'nope'"
    assert caught.value.path == "/v1/agents/nope"


def test_409_carries_the_server_message(harness: Harness, client: Client) -> None:
    agent = client.create_agent(agent_body())
    chat_id = client.create_chat(agent["agentId"], "Hello")["chatId"]
    transport = httpx.WSGITransport(app=harness.app) if harness.in_process else None
    with httpx.Client(base_url=harness.base_url, transport=transport) as raw:
        ended = raw.post(f"/v1/chats/{chat_id}/end", headers={"X-API-Key": KEY})
        assert ended.status_code == 200
    with pytest.raises(ApiError) as caught:
        client.update_chat(chat_id, {"dynamicVariables": {}})
    assert caught.value.status == 409
    assert caught.value.message == f"chat {chat_id} is ended; only an in_progress chat changes"


@pytest.mark.parametrize("mode", ["wsgi", "socket"])
def test_401_names_the_key_variable_not_the_key(mode: str, tmp_path: Path) -> None:
    app = EmulatorApp(api_keys=["the-right-key"])
    with harness_for(app, mode) as h:
        label = "SIGMAMIND_API_KEY_STAGING (environment `staging`)"
        with h.client(KEY, key_label=label) as client, pytest.raises(ApiError) as caught:
            client.list_agents()
    error = caught.value
    assert error.status == 401
    assert str(error) == (
        "GET /v1/agents -> 401: the API key from SIGMAMIND_API_KEY_STAGING (environment"
        " `staging`) was rejected (invalid API key); check that it is current and belongs to"
        " the right workspace"
    )
    assert KEY not in str(error) and KEY not in repr(error)


def test_401_through_for_environment_names_the_environment(tmp_path: Path) -> None:
    app = EmulatorApp(api_keys=["the-right-key"])
    env = Environment(name="staging", api_key_env="SIGMAMIND_API_KEY_STAGING")
    with running(app) as base_url:
        environ = {"SIGMAMIND_BASE_URL": base_url, "SIGMAMIND_API_KEY_STAGING": KEY}
        client = Client.for_environment(env, tmp_path, environ=environ, retry=FAST)
        with client, pytest.raises(ApiError, match="SIGMAMIND_API_KEY_STAGING") as caught:
            client.get_agent("abc")
    assert "environment `staging`" in caught.value.message
    assert KEY not in str(caught.value)


def test_unreachable_server_is_a_clear_error_after_retries() -> None:
    with socket.socket() as probe:  # a port nobody listens on once this closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    retry = RetryPolicy(max_elapsed_s=5.0, base_delay_s=0.001, max_delay_s=0.01, max_attempts=3)
    with Client(f"http://127.0.0.1:{port}", KEY, retry=retry) as client:
        with pytest.raises(ApiError) as caught:
            client.get_agent("abc")
        assert client.stats.requests == 3 and client.stats.retries == 2
    error = caught.value
    assert error.status is None
    assert error.message.startswith(
        f"could not reach http://127.0.0.1:{port}: connection refused (after 3 attempts over "
    )
    assert KEY not in str(error)


def test_a_server_that_never_answered_gets_a_few_tries_and_a_hint() -> None:
    # The default budget (8 attempts, ~10 s) is for a server that is having trouble; a
    # refusal from one that has not answered once is a wrong address or no server at all.
    port = free_port()  # nobody listens there once it is returned
    with Client(f"http://127.0.0.1:{port}", KEY) as client:
        with pytest.raises(ApiError) as caught:
            client.list_agents()
        assert client.stats.requests == FIRST_CONTACT_ATTEMPTS
    assert caught.value.message.startswith(
        f"could not reach http://127.0.0.1:{port}: connection refused (after "
        f"{FIRST_CONTACT_ATTEMPTS} attempts over "
    )
    assert caught.value.message.endswith(
        "nothing has answered at this address in this run: check the environment's baseUrl "
        "(or SIGMAMIND_BASE_URL) and that the server is running (the local emulator: "
        f"`sigmaform emulator --port {port}`)"
    )


def _emulator_process(port: int) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "sigmaform", "emulator", "--port", str(port)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert "listening" in first_line(process.stdout)
    return process


def test_a_server_that_answered_once_is_waited_for_while_it_restarts() -> None:
    # Refused after it answered: a restart (a deploy, the emulator started again), not a
    # wrong address. The whole budget applies, and the request goes through once it is up.
    port = free_port()
    first = _emulator_process(port)
    retry = RetryPolicy(max_elapsed_s=30, base_delay_s=0.05, max_delay_s=0.2, max_attempts=60)
    client = Client(f"http://127.0.0.1:{port}", KEY, retry=retry)
    try:
        assert client.list_agents() == []
    finally:
        first.kill()  # its connections go with it, as in a real restart
        first.communicate(timeout=30)
    second: list[subprocess.Popen[str]] = []

    def restart() -> None:
        time.sleep(1.0)
        second.append(_emulator_process(port))

    thread = threading.Thread(target=restart)
    thread.start()
    try:
        with client:
            assert client.list_agents() == []
        assert client.stats.retries > FIRST_CONTACT_ATTEMPTS  # refused, and tried again
    finally:
        thread.join()
        for process in second:
            process.kill()
            process.communicate(timeout=30)


# -- secrets -----------------------------------------------------------------------------


def test_key_never_appears_in_repr_errors_or_logs(
    harness: Harness, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    agent = client.create_agent(agent_body())
    client.get_agent(agent["agentId"])
    errors: list[ApiError] = []
    for call in (
        lambda: client.update_agent("nope", {}),
        lambda: client.create_agent({"agentName": ""}),
    ):
        with pytest.raises(ApiError) as caught:
            call()
        errors.append(caught.value)

    assert KEY not in repr(client)
    assert "(sensitive)" in repr(client)
    for error in errors:
        assert KEY not in str(error) and KEY not in repr(error) and KEY not in str(error.body)
    assert KEY not in caplog.text
    ours = [r.getMessage() for r in caplog.records if r.name == "sigmaform.client"]
    assert f"GET /v1/agents/{agent['agentId']} -> 200" in "\n".join(ours)


def test_sensitive_values_reach_the_request_body_only(
    harness: Harness, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hook = {
        "name": "events",
        "url": "https://hooks.example.com/sigmamind",
        "secret": Sensitive(WEBHOOK_SECRET, source="secret.SUPPORT_WEBHOOK_SECRET"),
        "events": ["conversation_started"],
    }
    body = agent_body(agentSettings={"webhooks": [hook]})
    created = client.create_agent(body)
    hook["secret"] = Sensitive(WEBHOOK_SECRET + "-2", source="secret.SUPPORT_WEBHOOK_SECRET")
    updated = client.update_agent(created["agentId"], {"agentSettings": {"webhooks": [hook]}})

    # The server received the values (the emulator answers with what it stored) ...
    assert created["agentSettings"]["webhooks"][0]["secret"] == WEBHOOK_SECRET
    assert updated["agentSettings"]["webhooks"][0]["secret"] == WEBHOOK_SECRET + "-2"
    # ... and its request journal, a file people read, keeps neither.
    [post] = harness.entries("POST", "/v1/agents")
    assert post.body["agentSettings"]["webhooks"][0]["secret"] == "(sensitive)"
    [patch] = harness.entries("PATCH", f"/v1/agents/{created['agentId']}")
    assert patch.body["agentSettings"]["webhooks"][0]["secret"] == "(sensitive)"
    assert WEBHOOK_SECRET not in caplog.text
    assert isinstance(body["agentSettings"]["webhooks"][0]["secret"], Sensitive)  # not mutated


# -- environments and counters -----------------------------------------------------------


def test_local_environment_runs_the_emulator_in_process(tmp_path: Path) -> None:
    env = Environment(name="local", base_url="local:.sigmaform/emulator")
    with Client.for_environment(env, tmp_path, environ={}, retry=FAST) as client:
        agent = client.create_agent(agent_body())
        assert client.base_url == "http://sigmamind.local"
    # The data lives in the project, so a second client (a later command) sees it.
    assert (tmp_path / ".sigmaform/emulator").is_dir()
    with Client.for_environment(env, tmp_path, environ={}, retry=FAST) as again:
        assert again.get_agent(agent["agentId"]) == agent


def test_stats_count_requests_by_method_and_bytes_sent(client: Client) -> None:
    agent = client.create_agent(agent_body())
    client.get_agent(agent["agentId"])
    client.update_agent(agent["agentId"], {"agentName": "renamed"})
    assert client.stats.requests == 3
    assert client.stats.by_method == {"POST": 1, "GET": 1, "PATCH": 1}
    assert client.stats.retries == 0
    assert client.stats.bytes_sent > len('{"agentName":"renamed"}')


# -- workspace ---------------------------------------------------------------------------


def test_workspace_is_learnt_from_a_webhook_and_unknown_without_one(
    harness: Harness, client: Client
) -> None:
    assert client.workspace_id() is None  # an empty workspace does not say which it is
    hook = {"name": "events", "url": "https://h.example/x", "events": ["conversation_ended"]}
    settings = {"language": "en_US", "webhooks": [hook]}
    client.create_agent(agent_body(agentSettings=settings))
    workspace = client.workspace_id()
    assert workspace is not None and workspace.startswith("org_")
    with harness.client("sk-another-key") as other:
        other.create_agent(agent_body(agentSettings=settings))
        assert other.workspace_id() not in (None, workspace)
    (listing, *_) = harness.entries("GET", "/v1/webhooks")
    assert parse_qs(listing.query) == {"page": ["0"], "size": ["1"]}


def test_workspace_is_unknown_when_the_server_has_no_webhook_list() -> None:
    def no_such_route(request: httpx.Request) -> httpx.Response:
        body = {"error": "Not Found", "message": "no route", "status": 404}
        return httpx.Response(404, json=body)

    transport = httpx.MockTransport(no_such_route)
    with Client("http://sigmamind.local", KEY, transport=transport, retry=FAST) as client:
        assert client.workspace_id() is None
