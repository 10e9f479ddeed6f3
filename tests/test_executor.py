"""The executor against the in-process emulator: failures, dependencies, state per resource."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx

from sigmaform.apply import ApplyOptions, execute
from sigmaform.client import Client
from sigmaform.emulator import EmulatorApp
from sigmaform.plan import build_plan
from sigmaform.resource import Resource
from sigmaform.state import LocalBackend, State
from sigmaform.state_journal import Change


def client_for(app: EmulatorApp) -> Client:
    return Client("http://sigmamind.local", "k", transport=httpx.WSGITransport(app=app))


def test_server_refusal_fails_one_resource_and_blocks_its_dependents(tmp_path: Path) -> None:
    app = EmulatorApp()
    app.seed_phone_number("k", "+14155550123")
    good = Resource("Agent", "good", {"agentName": "Good", "instructions": "Hi"}, "g.yaml")
    # Longer than the server's 128-character limit: validate would catch this in a file;
    # built directly here so that the server is the one to refuse it.
    bad = Resource("Agent", "bad", {"agentName": "x" * 200, "instructions": "Hi"}, "b.yaml")
    number = Resource(
        "PhoneNumber", "line", {"phoneNumber": "+14155550123", "inboundAgent": "bad"}, "n.yaml"
    )
    resources = [good, bad, number]
    backend = LocalBackend(tmp_path / "state.json")
    state = State.new("dev")
    plan = build_plan(resources, state)
    seen: list[str] = []
    with client_for(app) as client:
        report = execute(
            plan,
            resources,
            backend,
            state,
            client,
            ApplyOptions(parallelism=4),
            on_outcome=lambda o: seen.append(o.address),
        )
    outcomes = {o.address: o for o in report.outcomes}
    assert outcomes["agent.good"].status == "created"
    assert outcomes["agent.bad"].failed
    assert "POST /v1/agents -> 400" in outcomes["agent.bad"].message
    assert outcomes["phone-number.line"].failed
    assert "depends on agent.bad" in outcomes["phone-number.line"].message
    assert seen.index("phone-number.line") > seen.index("agent.bad")
    saved = backend.read()
    assert saved is not None and sorted(saved.resources) == ["agent.good"]
    assert saved.serial == 1


def test_state_recorder_group_commits_and_every_record_is_durable(tmp_path: Path) -> None:
    import threading
    import time

    from sigmaform.apply import StateRecorder
    from sigmaform.state import ResourceState

    class SlowBackend(LocalBackend):
        writes = 0

        def append(self, state: State, changes: Sequence[Change]) -> State:
            SlowBackend.writes += 1
            time.sleep(0.05)  # a slow disk: others finish meanwhile
            return super().append(state, changes)

    backend = SlowBackend(tmp_path / "state.json")
    recorder = StateRecorder(backend, State.new("dev"))
    durable: list[bool] = []

    def work(i: int) -> None:
        address = f"agent.a{i}"
        recorder.record(address, ResourceState("Agent", f"id{i}", {}, "d", "t"))
        on_disk = backend.read()
        durable.append(on_disk is not None and address in on_disk.resources)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert durable == [True] * 12
    assert SlowBackend.writes < 12
    saved = backend.read()
    assert saved is not None and len(saved.resources) == 12
    assert saved.serial == SlowBackend.writes == recorder.state.serial
    assert recorder.id_to_name()["id3"] == "a3"
    recorder.forget("agent.a3")
    assert "id3" not in recorder.id_to_name()


def test_a_failed_state_write_stops_the_apply_before_any_further_request(
    tmp_path: Path,
) -> None:
    import errno

    import pytest

    from sigmaform.apply import StateNotSaved

    class FullDisk(LocalBackend):
        writes = 0

        def append(self, state: State, changes: Sequence[Change]) -> State:
            FullDisk.writes += 1
            if FullDisk.writes == 3:
                raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
            return super().append(state, changes)

    app = EmulatorApp()
    resources = [
        Resource("Agent", f"a{i:02}", {"agentName": f"A{i}"}, f"{i}.yaml") for i in range(10)
    ]
    backend = FullDisk(tmp_path / "state.json")
    state = State.new("dev")
    seen: list[tuple[str, str]] = []
    with client_for(app) as client, pytest.raises(StateNotSaved) as caught:
        execute(
            build_plan(resources, state),
            resources,
            backend,
            state,
            client,
            ApplyOptions(parallelism=1),
            on_outcome=lambda o: seen.append((o.address, o.status)),
        )
    assert str(caught.value).startswith("[Errno 28] No space left on device: ")
    assert str(caught.value).endswith("; the apply stopped at once and sends nothing more")
    # The third create happened but could not be recorded: nothing was sent after it.
    assert [e.method for e in app.journal.entries] == ["POST"] * 3
    assert seen[:3] == [("agent.a00", "created"), ("agent.a01", "created"), ("agent.a02", "failed")]
    assert {status for _, status in seen[3:]} == {"skipped"} and len(seen) == 10
    saved = backend.read()
    assert saved is not None and sorted(saved.resources) == ["agent.a00", "agent.a01"]
