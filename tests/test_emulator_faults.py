"""The emulator's injected faults: latency, 503s, lost responses and rate limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from sigmaform.emulator import EmulatorApp, Faults, running
from sigmaform.emulator import faults as faults_module

KEY = "test-key-faults"


@contextmanager
def wsgi_client(app: EmulatorApp, key: str = KEY) -> Iterator[httpx.Client]:
    transport = httpx.WSGITransport(app=app)
    with httpx.Client(transport=transport, base_url="http://e", headers={"X-API-Key": key}) as c:
        yield c


def statuses(app: EmulatorApp, count: int) -> list[int]:
    with wsgi_client(app) as client:
        return [
            client.post("/v1/agents", json={"agentName": f"a{n}"}).status_code for n in range(count)
        ]


def agent_count(data_dir: Path) -> int:
    """What a fault-free emulator on the same data directory sees."""
    with wsgi_client(EmulatorApp(data_dir)) as client:
        return int(client.get("/v1/agents").json()["totalCount"])


def test_error_rate_answers_503_before_acting_reproducibly(tmp_path: Path) -> None:
    app = EmulatorApp(tmp_path, faults=Faults(error_rate=0.5, seed=7))
    seen = statuses(app, 40)
    assert set(seen) == {201, 503}
    assert seen == statuses(EmulatorApp(faults=Faults(error_rate=0.5, seed=7)), 40)
    assert seen != statuses(EmulatorApp(faults=Faults(error_rate=0.5, seed=8)), 40)
    assert agent_count(tmp_path) == seen.count(201)


def test_error_body_of_injected_faults() -> None:
    app = EmulatorApp(faults=Faults(error_rate=1.0, seed=1))
    with wsgi_client(app) as client:
        response = client.get("/v1/agents")
    assert response.status_code == 503
    assert response.json()["error"] == "Service Unavailable"
    assert response.json()["path"] == "/v1/agents"


def test_drop_rate_acts_then_answers_502_reproducibly(tmp_path: Path) -> None:
    app = EmulatorApp(tmp_path, faults=Faults(drop_rate=0.5, seed=3))
    seen = statuses(app, 40)
    assert set(seen) == {201, 502}
    assert seen == statuses(EmulatorApp(faults=Faults(drop_rate=0.5, seed=3)), 40)
    assert agent_count(tmp_path) == 40
    response = EmulatorApp(faults=Faults(drop_rate=1.0))
    with wsgi_client(response) as client:
        lost = client.get("/v1/agents")
    assert lost.status_code == 502
    assert lost.json()["error"] == "Bad Gateway"


def test_rate_limit_is_per_workspace_with_retry_after() -> None:
    app = EmulatorApp(faults=Faults(rate_limit=1))
    with wsgi_client(app) as client, wsgi_client(app, "other-key") as other:
        assert client.get("/v1/agents").status_code == 200
        limited = client.get("/v1/agents")
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "1"
        assert limited.json()["error"] == "Too Many Requests"
        assert other.get("/v1/agents").status_code == 200


def test_rate_limit_bucket_refills_continuously() -> None:
    app = EmulatorApp(faults=Faults(rate_limit=50))
    with wsgi_client(app) as client:
        # 200 requests outrun a 50-token bucket unless they take over 3 s (a loaded machine).
        seen = [client.get("/v1/agents").status_code for _ in range(200)]
        assert 429 in seen
        time.sleep(0.1)  # about five tokens' worth
        assert client.get("/v1/agents").status_code == 200


def test_faults_apply_only_to_v1_routes() -> None:
    app = EmulatorApp(faults=Faults(error_rate=1.0))
    with wsgi_client(app) as client:
        assert client.get("/health").status_code == 404


def test_latency_sleeps_before_handling(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(faults_module.time, "sleep", slept.append)
    app = EmulatorApp(faults=Faults(latency_ms=50))
    with wsgi_client(app) as client:
        client.get("/v1/agents")
        client.get("/nothing")
    assert slept == [0.05]


def test_latency_does_not_serialise_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """16 requests must be inside their latency sleep at the same time over a real socket.

    The sleep is replaced by a barrier for 16: if the server or the app serialised
    requests while sleeping, the barrier would break and the requests would fail.
    """
    barrier = threading.Barrier(16, timeout=20)
    monkeypatch.setattr(faults_module.time, "sleep", lambda seconds: barrier.wait())
    app = EmulatorApp(faults=Faults(latency_ms=50))
    limits = httpx.Limits(max_connections=16)
    with (
        running(app) as base,
        httpx.Client(base_url=base, headers={"X-API-Key": KEY}, limits=limits) as client,
        ThreadPoolExecutor(16) as pool,
    ):
        codes = list(pool.map(lambda _: client.get("/v1/agents").status_code, range(16)))
    assert codes == [200] * 16


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latency_ms": -1}, "latency_ms"),
        ({"error_rate": 1.5}, "error_rate"),
        ({"drop_rate": -0.1}, "drop_rate"),
        ({"rate_limit": 0}, "rate_limit"),
    ],
)
def test_fault_settings_are_checked(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Faults(**kwargs)  # type: ignore[arg-type]
