"""Crash safety: an apply of 50 agents killed (SIGKILL) at seeded random moments.

Their prompts are long enough to be kept out of line (state blobs): no kill may leave the
state naming a blob that is not on disk.

Each time, the state file still parses (or was never written), the lock of the dead process
is recognised as free (`state unlock`, or a new apply that is not refused), and the next
apply converges: every declared agent exactly once on the server, state matching it, and a
refreshed plan with nothing to do. An agent the killed apply created but never recorded is
recovered into state, not created a second time.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability import (
    API_KEY,
    Cli,
    agent_name,
    agent_spec,
    assert_converged,
    assert_no_secrets,
    inspector,
    list_agents,
    read_state,
    start_cli,
    state_file,
    write_agents,
    write_project,
    written_files,
)

from sigmaform.emulator.journal import JournalEntry, read_journal
from sigmaform.state import LocalBackend
from sigmaform.state_blobs import DIGEST_IN_TEXT, digest_of

AGENTS = 50
KILLS = 20
LOCAL = {"baseUrl": "local:.sigmaform/emulator", "apiKeyEnv": "REL_API_KEY"}


def _slow(root: Path, latency_ms: int) -> None:
    emulator = root / ".sigmaform" / "emulator"
    emulator.mkdir(parents=True, exist_ok=True)
    config = emulator / "emulator.json"
    if latency_ms:
        config.write_text(json.dumps({"latency_ms": latency_ms}))
    else:
        config.unlink(missing_ok=True)


def _wait_for_first_write(journal: Path, offset: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30  # only keeps a broken run from hanging the suite
    while process.poll() is None and time.monotonic() < deadline:
        if journal.exists():
            with journal.open("rb") as handle:
                handle.seek(offset)
                new = handle.read()
            if b'"method":"POST"' in new or b'"method":"PATCH"' in new:
                return
        time.sleep(0.01)


def _parses_or_absent(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and data["version"] == 3, path
    return data


def _no_dangling_blob(state: Path) -> int:
    """Every blob the document, its backup and its journal name is on disk (a crash never
    leaves a reference without its text); how many they name."""
    named: set[str] = set()
    carried: dict[str, str] = {}  # texts journal lines carry until compaction writes them
    for suffix in ("", ".backup", ".journal"):
        path = state.with_name(state.name + suffix)
        if path.exists():
            named.update(DIGEST_IN_TEXT.findall(path.read_text(encoding="utf-8")))
    journal = state.with_name(state.name + ".journal")
    if journal.exists():
        for line in journal.read_text(encoding="utf-8").splitlines():
            # A torn last line was never fsynced, so never reported as saved.
            with contextlib.suppress(json.JSONDecodeError):
                carried.update(json.loads(line).get("blobs", {}))
    blobs = state.with_name(state.name + ".blobs") / "sha256"
    for digest in named:
        blob = blobs / digest[7:9] / digest[9:]
        text = carried[digest] if digest in carried else blob.read_text(encoding="utf-8")
        assert digest_of(text) == digest, blob
    return len(named)


def _long(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with a prompt long enough to be kept out of line in state."""
    return {**spec, "instructions": spec["instructions"] + "\n" + "Keep answers short. " * 20}


@pytest.fixture(scope="module")
def tally() -> Iterator[dict[str, int]]:
    """Counts over the kills; once all ran, most must have cut an apply short.

    How many kills land between "the server created it" and "state saved it" (`recovered`)
    depends on timing, so it is not asserted here; the tests below cover that case exactly.
    """
    counts = {
        "runs": 0,
        "killed_mid_apply": 0,
        "recovered": 0,
        "updated_before_kill": 0,
        "journal_left": 0,  # kills that left successes in the journal, not yet compacted
        "blobs_named": 0,  # prompts the killed applies' state referred to, all on disk
    }
    yield counts
    if counts["runs"] == KILLS:
        assert counts["killed_mid_apply"] > KILLS // 2 and counts["updated_before_kill"], counts
        assert counts["journal_left"] and counts["blobs_named"], counts


@pytest.mark.parametrize("seed", range(KILLS))
def test_killed_apply_recovers_without_duplicates(
    tmp_path: Path, seed: int, tally: dict[str, int]
) -> None:
    """Even seeds kill the first apply (creates); odd ones an apply that updates them all."""
    rng = random.Random(seed)
    root = tmp_path / "project"
    data_dir = root / ".sigmaform" / "emulator"
    write_project(root, LOCAL)
    specs = {agent_name(i): _long(agent_spec(i)) for i in range(AGENTS)}
    write_agents(root, specs)
    cli = Cli(root)
    updating = seed % 2 == 1
    if updating:
        assert cli("apply", "--auto-approve").exit_code == 0
        specs = {agent_name(i): _long(agent_spec(i, revision=1)) for i in range(AGENTS)}
        write_agents(root, specs)
    _slow(root, latency_ms=40)

    journal = data_dir / "journal.jsonl"
    offset = journal.stat().st_size if journal.exists() else 0
    process = start_cli(root, "apply", "--auto-approve")
    if seed % 5 == 0:  # any moment, quite possibly before the first write
        time.sleep(rng.uniform(0.0, 0.5))
    else:  # a moment after the writes began, however slow the process was to start
        _wait_for_first_write(journal, offset, process)
        time.sleep(rng.uniform(0.0, 0.5))
    process.send_signal(signal.SIGKILL)
    out, err = process.communicate()
    tally["killed_mid_apply"] += process.returncode == -signal.SIGKILL

    _parses_or_absent(state_file(root))
    _parses_or_absent(state_file(root).with_name(state_file(root).name + ".backup"))
    tally["blobs_named"] += _no_dangling_blob(state_file(root))
    # What the killed apply saved: the document plus the journal it had not compacted yet.
    saved = LocalBackend(state_file(root)).read()
    tally["journal_left"] += state_file(root).with_name(state_file(root).name + ".journal").exists()
    _slow(root, latency_ms=0)  # the recovery runs at full speed
    with inspector(data_dir, API_KEY) as api:
        before = list_agents(api)
    recorded = len(saved.resources) if saved else 0
    assert recorded <= len(before)
    tally["updated_before_kill"] += updating * sum(
        "Revision 1" in a["instructions"] for a in before
    )

    if seed % 4 < 2:  # half the time clear the lock explicitly, half rely on it being free
        unlock = cli("state", "unlock")
        assert unlock.exit_code == 0, str(unlock)
    recovery = cli("apply", "--auto-approve")
    assert recovery.exit_code == 0, str(recovery)
    recovered = recovery.stdout.count("recovered an agent created by an interrupted apply")
    assert recovered == len(before) - recorded, str(recovery)
    tally["recovered"] += recovered

    with inspector(data_dir, API_KEY) as api:
        remote = list_agents(api)
    assert_converged(root, remote, {s["agentName"] for s in specs.values()})
    assert all(
        a["instructions"] == specs[agent_name(int(a["agentName"][-3:]))]["instructions"]
        for a in remote
    )
    plan = cli("plan", "--detailed-exitcode")
    assert plan.exit_code == 0 and "Changed outside sigmaform" not in plan.stdout, str(plan)
    drift = cli("drift")  # nothing the killed apply wrote may look like an outside change
    assert drift.exit_code == 0, str(drift)
    texts = [out.decode(errors="replace"), err.decode(errors="replace"), *cli.outputs()]
    assert_no_secrets(texts, written_files(root))
    tally["runs"] += 1


# -- the recovery rule, one case at a time ---------------------------------------------


def _applied(root: Path, count: int = 3) -> Cli:
    write_project(root, LOCAL)
    write_agents(root, {agent_name(i): agent_spec(i) for i in range(count)})
    cli = Cli(root)
    first = cli("apply", "--auto-approve")
    assert first.exit_code == 0, str(first)
    return cli


def _writes(root: Path, since: int) -> list[JournalEntry]:
    entries = read_journal(root / ".sigmaform" / "emulator" / "journal.jsonl")[since:]
    return [e for e in entries if e.method in ("POST", "PATCH", "DELETE")]


def _journal_length(root: Path) -> int:
    return len(read_journal(root / ".sigmaform" / "emulator" / "journal.jsonl"))


def _remote(root: Path) -> list[dict[str, Any]]:
    with inspector(root / ".sigmaform" / "emulator", API_KEY) as api:
        return list_agents(api)


def test_created_but_unrecorded_agent_is_recovered_from_a_saved_plan(tmp_path: Path) -> None:
    root = tmp_path / "project"
    cli = _applied(root)
    agent_id = read_state(root)["resources"]["agent.a001"]["id"]
    # What a kill between "server created" and "state saved" leaves behind.
    assert cli("state", "rm", "agent.a001").exit_code == 0
    saved = root / "recover.plan.json"
    plan = cli("plan", "--detailed-exitcode", "--out", str(saved))
    assert plan.exit_code == 2, str(plan)
    assert f"+ agent.a001  (recover, id {agent_id})" in plan.stdout
    assert "note: recovered an agent created by an interrupted apply" in plan.stdout
    assert "Plan: 0 to create, 1 to adopt, 0 to update, 0 to delete, 2 unchanged." in plan.stdout
    before = _journal_length(root)
    applied = cli("apply", str(saved))
    assert applied.exit_code == 0, str(applied)
    assert "+ agent.a001: adopted" in applied.stdout
    assert _writes(root, before) == []  # nothing created, nothing changed
    assert read_state(root)["resources"]["agent.a001"]["id"] == agent_id
    assert_converged(root, _remote(root), {agent_spec(i)["agentName"] for i in range(3)})
    assert cli("plan", "--detailed-exitcode").exit_code == 0
    assert_no_secrets(cli.outputs(), written_files(root))


def test_lost_state_file_recovers_every_agent_without_sending_anything(tmp_path: Path) -> None:
    root = tmp_path / "project"
    cli = _applied(root, count=4)
    state_file(root).unlink()
    before = _journal_length(root)
    applied = cli("apply", "--auto-approve")
    assert applied.exit_code == 0, str(applied)
    assert applied.stdout.count(": adopted") == 4
    assert _writes(root, before) == []
    assert_converged(root, _remote(root), {agent_spec(i)["agentName"] for i in range(4)})
    assert cli("plan", "--detailed-exitcode").exit_code == 0


def test_agent_recreated_but_unrecorded_is_recovered(tmp_path: Path) -> None:
    root = tmp_path / "project"
    cli = _applied(root)
    stale = state_file(root).read_text()
    gone = read_state(root)["resources"]["agent.a002"]["id"]
    with inspector(root / ".sigmaform" / "emulator", API_KEY) as api:
        assert api.delete(f"/v1/agents/{gone}").status_code in (200, 204)
    again = cli("apply", "--auto-approve")
    assert again.exit_code == 0 and "+ agent.a002: created" in again.stdout, str(again)
    state_file(root).write_text(stale)  # as if that apply died before saving the new id
    before = _journal_length(root)
    applied = cli("apply", "--auto-approve")
    assert applied.exit_code == 0, str(applied)
    assert "+ agent.a002: adopted" in applied.stdout
    assert _writes(root, before) == []
    assert_converged(root, _remote(root), {agent_spec(i)["agentName"] for i in range(3)})
    assert cli("plan", "--detailed-exitcode").exit_code == 0


def test_unmanaged_namesake_with_other_config_is_still_refused(tmp_path: Path) -> None:
    root = tmp_path / "project"
    cli = _applied(root)
    agent_id = read_state(root)["resources"]["agent.a001"]["id"]
    assert cli("state", "rm", "agent.a001").exit_code == 0
    write_agents(root, {"a001": agent_spec(1, revision=3)})  # the file moved on since
    refused = cli("apply", "--auto-approve")
    assert refused.exit_code == 3, str(refused)
    assert "already exist remotely but are not managed" in refused.stderr
    # One environment: the pasteable hint needs -C only.
    assert f"`sigmaform -C {root} import {agent_id} --name a001`" in refused.stderr
    assert len(_remote(root)) == 3


def test_two_unmanaged_namesakes_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "project"
    cli = _applied(root)
    assert cli("state", "rm", "agent.a001").exit_code == 0
    with inspector(root / ".sigmaform" / "emulator", API_KEY) as api:
        made = api.post("/v1/agents", json={"agentName": agent_spec(1)["agentName"]})
        assert made.status_code in (200, 201)
    refused = cli("apply", "--auto-approve")
    assert refused.exit_code == 3, str(refused)
    assert "already exist remotely but are not managed" in refused.stderr
    assert len(_remote(root)) == 4


def test_update_written_but_unrecorded_leaves_no_phantom_drift(tmp_path: Path) -> None:
    root = tmp_path / "project"
    cli = _applied(root)
    stale = state_file(root).read_text()
    write_agents(root, {"a000": agent_spec(0, revision=1)})
    assert cli("apply", "--auto-approve").exit_code == 0
    state_file(root).write_text(stale)  # as if that apply died after the PATCH, before the save
    # The server already holds the files' values: nothing to send, but state must catch up,
    # or every later `drift` reports the change as made outside sigmaform, forever.
    before = _journal_length(root)
    applied = cli("apply", "--auto-approve")
    assert applied.exit_code == 0, str(applied)
    assert _writes(root, before) == []
    drift = cli("drift")
    assert drift.exit_code == 0, str(drift)
    plan = cli("plan", "--detailed-exitcode")
    assert plan.exit_code == 0 and "Changed outside sigmaform" not in plan.stdout, str(plan)


# -- test cases: a kind found under its agent, with no name of its own -------------------


def _write_cases(root: Path, count: int) -> None:
    for i in range(count):
        path = root / "agents" / "tests" / f"case-{i:02d}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "kind": "TestCase",
            "name": f"case-{i:02d}",
            "spec": {
                "agent": agent_name(i % 2),
                "label": f"Case {i}",
                "userPrompt": f"You are caller {i} and want to move your booking.",
                "successCriteria": "The agent offers a new time.",
                "attempt": 2,
            },
        }
        path.write_text(json.dumps(doc))  # JSON is YAML, and keeps this test free of yaml


def _cases(root: Path, agent_ids: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    with inspector(root / ".sigmaform" / "emulator", API_KEY) as api:
        for agent_id in agent_ids:
            answer = api.get("/v1/test-cases", params={"agentId": agent_id})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            found += body if isinstance(body, list) else body["data"]
    return found


@pytest.mark.parametrize("seed", range(3))
def test_killed_apply_of_test_cases_recovers_without_duplicates(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    root = tmp_path / "project"
    cli = _applied(root, count=2)
    agent_ids = [r["id"] for r in read_state(root)["resources"].values()]
    cases = 10
    _write_cases(root, cases)
    _slow(root, latency_ms=150)
    journal = root / ".sigmaform" / "emulator" / "journal.jsonl"
    process = start_cli(root, "apply", "--auto-approve", "--parallelism", "2")
    _wait_for_first_write(journal, journal.stat().st_size, process)
    time.sleep(rng.uniform(0.0, 0.6))
    process.send_signal(signal.SIGKILL)
    process.communicate()
    _slow(root, latency_ms=0)

    saved = LocalBackend(state_file(root)).read()
    recorded = sum(1 for r in saved.resources.values() if r.kind == "TestCase") if saved else 0
    before = len(_cases(root, agent_ids))
    assert recorded <= before
    assert cli("state", "unlock").exit_code == 0
    recovery = cli("apply", "--auto-approve")
    assert recovery.exit_code == 0, str(recovery)
    recovered = recovery.stdout.count("recovered a test case created by an interrupted apply")
    assert recovered == before - recorded, str(recovery)

    remote = _cases(root, agent_ids)
    assert sorted(c["label"] for c in remote) == sorted(f"Case {i}" for i in range(cases))
    held = {r.id for r in LocalBackend(state_file(root)).read().resources.values()}  # type: ignore[union-attr]
    assert {c["testCaseId"] for c in remote} <= held
    plan = cli("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, str(plan)
