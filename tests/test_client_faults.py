"""The client against a misbehaving emulator: retries converge, creates never duplicate."""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from sigmaform.client import Client, RetryPolicy
from sigmaform.emulator import EmulatorApp, Faults, running
from sigmaform.errors import ApiError

KEY = "sk-faults-93b1e0aa"
FAST = RetryPolicy(max_elapsed_s=15.0, base_delay_s=0.005, max_delay_s=0.05, max_attempts=40)


def in_process(app: EmulatorApp, **kwargs: Any) -> Client:
    kwargs.setdefault("retry", FAST)
    return Client("http://sigmamind.local", KEY, transport=httpx.WSGITransport(app=app), **kwargs)


def body(name: str) -> dict[str, Any]:
    return {"agentName": name, "instructions": f"You are {name}.", "welcomeMessage": "Hi"}


@pytest.mark.parametrize("mode", ["wsgi", "socket"])
def test_hundred_creates_under_faults_make_exactly_hundred_agents(mode: str) -> None:
    faults = Faults(error_rate=0.2, drop_rate=0.1, rate_limit=20, seed=7)
    app = EmulatorApp(faults=faults)
    names = [f"agent-{i:03d}" for i in range(100)]
    with contextlib.ExitStack() as stack:
        if mode == "wsgi":
            client = stack.enter_context(in_process(app, parallelism=8))
        else:
            base_url = stack.enter_context(running(app))
            client = stack.enter_context(Client(base_url, KEY, retry=FAST, parallelism=8))
        results = client.map_concurrent(lambda n: client.create_agent(body(n)), names)
        failures = [r for r in results if isinstance(r, BaseException)]
        assert failures == []
        assert [r["agentName"] for r in results if isinstance(r, dict)] == names
        assert client.stats.retries > 0
        assert client.stats.recovered_creates > 0  # some responses really were lost
        stored = client.list_agents()

    counts = Counter(a["agentName"] for a in stored)
    assert len(stored) == 100
    assert sorted(counts) == names
    assert max(counts.values()) == 1


def test_a_lost_create_response_is_resolved_by_lookup_not_resent() -> None:
    # Every other request loses its response: the create acts, then answers 502.
    app = EmulatorApp(faults=Faults(drop_rate=0.5, seed=3))
    with in_process(app) as client:
        created = [client.create_agent(body(f"agent-{i}")) for i in range(10)]
        assert client.stats.recovered_creates > 0
        agents = client.list_agents()
    assert sorted(a["agentName"] for a in agents) == [f"agent-{i}" for i in range(10)]
    assert {a["agentId"] for a in created} == {a["agentId"] for a in agents}
    posts = [e for e in app.journal.entries if e.method == "POST"]
    acted = [e for e in posts if e.status in (201, 502)]
    assert len(acted) == 10  # each create reached the store once


def test_a_503_create_is_checked_then_sent_again() -> None:
    app = EmulatorApp(faults=Faults(error_rate=0.5, seed=11))
    with in_process(app) as client:
        for i in range(6):
            client.create_agent(body(f"agent-{i}"))
        agents = client.list_agents()
    assert len(agents) == 6
    statuses = [e.status for e in app.journal.entries if e.method == "POST"]
    assert 503 in statuses
    # Every 503 on a create was followed by a lookup before the create was sent again.
    entries = app.journal.entries
    for index, entry in enumerate(entries):
        if entry.method == "POST" and entry.status == 503:
            following = entries[index + 1 :]
            next_post = next(i for i, e in enumerate(following) if e.method == "POST")
            assert any(e.method == "GET" for e in following[:next_post])


def test_rate_limit_honours_retry_after() -> None:
    app = EmulatorApp(faults=Faults(rate_limit=5))
    with in_process(app, parallelism=4) as client:
        results = client.map_concurrent(lambda n: client.create_agent(body(n)), ["a", "b", "c"])
        results += client.map_concurrent(lambda i: client.list_agents(), list(range(6)))
        assert not [r for r in results if isinstance(r, BaseException)]
        assert client.stats.retries > 0
    statuses = Counter(e.status for e in app.journal.entries)
    assert statuses[429] > 0
    # 429 means "not acted on": creates are repeated directly, no duplicate appears.
    assert statuses[201] == 3


def test_a_retry_after_longer_than_the_budget_fails_at_once() -> None:
    app = EmulatorApp(faults=Faults(rate_limit=1))
    retry = RetryPolicy(max_elapsed_s=0.5, base_delay_s=0.001, max_delay_s=0.005)
    with in_process(app, retry=retry) as client:
        client.list_agents()  # takes the only token
        with pytest.raises(ApiError) as caught:
            client.list_agents()
        assert client.stats.retries == 0
    assert caught.value.status == 429
    assert caught.value.message == "rate limited (rate limit exceeded)"


def test_retries_stop_when_the_budget_is_spent() -> None:
    app = EmulatorApp(faults=Faults(error_rate=1.0))
    retry = RetryPolicy(max_elapsed_s=5.0, base_delay_s=0.001, max_delay_s=0.005, max_attempts=4)
    with in_process(app, retry=retry) as client:
        with pytest.raises(ApiError) as caught:
            client.get_agent("abc")
        assert client.stats.requests == 4
    error = caught.value
    assert error.status == 503
    assert str(error).startswith(
        "GET /v1/agents/abc -> 503: service temporarily unavailable (injected fault)"
        " (after 4 attempts over "
    )


def test_retries_stop_at_the_time_budget() -> None:
    app = EmulatorApp(faults=Faults(error_rate=1.0))
    retry = RetryPolicy(max_elapsed_s=0.2, base_delay_s=0.05, max_delay_s=0.05, max_attempts=1000)
    with in_process(app, retry=retry) as client, pytest.raises(ApiError) as caught:
        client.list_agents()
    assert caught.value.status == 503
    assert "attempts over" in caught.value.message


def test_a_create_under_total_failure_gives_up_with_the_server_message() -> None:
    app = EmulatorApp(faults=Faults(error_rate=1.0))
    retry = RetryPolicy(max_elapsed_s=5.0, base_delay_s=0.001, max_delay_s=0.005, max_attempts=3)
    with in_process(app, retry=retry) as client, pytest.raises(ApiError) as caught:
        client.create_agent(body("x"))
    # The lookup before a retry failed as well, and says so.
    error = caught.value
    assert (error.method, error.path, error.status) == ("POST", "/v1/agents", 503)
    assert error.message.startswith(
        "service temporarily unavailable (injected fault); checking whether it took effect"
        " failed too (GET /v1/agents -> 503: service temporarily unavailable (injected fault)"
        " (after 3 attempts over "
    )


def test_a_lost_chat_create_is_not_repeated(tmp_path: Path) -> None:
    # Two emulators over one data directory: a healthy one to set up, a dropping one to test.
    with in_process(EmulatorApp(tmp_path)) as setup:
        agent_id = setup.create_agent(body("a"))["agentId"]
    dropping = EmulatorApp(tmp_path, faults=Faults(drop_rate=1.0))
    with in_process(dropping) as client, pytest.raises(ApiError) as caught:
        client.create_chat(agent_id, "Hello")
    assert caught.value.status == 502
    assert caught.value.message.endswith(
        "; it may or may not have taken effect, so it was not repeated"
    )
    assert [e.method for e in dropping.journal.entries if e.path == "/v1/chats"] == ["POST"]


def test_timeouts_are_retried_then_reported(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sigmaform.client")
    app = EmulatorApp(faults=Faults(latency_ms=300))
    retry = RetryPolicy(max_elapsed_s=5.0, base_delay_s=0.001, max_delay_s=0.005, max_attempts=2)
    with running(app) as base_url:
        client = Client(base_url, KEY, retry=retry, timeout_s=0.05)
        with client, pytest.raises(ApiError) as caught:
            client.get_agent("abc")
    assert caught.value.status is None
    assert caught.value.message.startswith(
        f"could not reach {base_url}: timed out waiting for the server (after 2 attempts over "
    )
    assert "ReadTimeout" in caplog.text
