"""The local state lock as a user meets it: `--lock-timeout`, applies that wait their turn,
and an unlock that never frees a live holder's lock (issue 17: 30 duplicates when it did).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import Project
from reliability import (
    API_KEY,
    Cli,
    agent_name,
    agent_spec,
    assert_converged,
    inspector,
    list_agents,
    start_cli,
    write_agents,
    write_project,
)

from sigmaform.duration import parse_duration
from sigmaform.state import LocalBackend, LockInfo

LOCAL = {"baseUrl": "local:.sigmaform/emulator", "apiKeyEnv": "REL_API_KEY"}
AGENTS = 6


def _project(tmp_path: Path, latency_ms: int) -> tuple[Path, Path]:
    root = tmp_path / "project"
    write_project(root, LOCAL)
    data_dir = root / ".sigmaform" / "emulator"
    data_dir.mkdir(parents=True)
    (data_dir / "emulator.json").write_text(json.dumps({"latency_ms": latency_ms}))
    write_agents(root, {agent_name(i): agent_spec(i) for i in range(AGENTS)})
    return root, data_dir


def _converged(root: Path, data_dir: Path) -> None:
    (data_dir / "emulator.json").unlink()
    with inspector(data_dir, API_KEY) as api:
        remote = list_agents(api)
    assert_converged(root, remote, {str(agent_spec(i)["agentName"]) for i in range(AGENTS)})
    creates = [
        line
        for line in (data_dir / "journal.jsonl").read_text().splitlines()
        if '"method":"POST"' in line and '"path":"/v1/agents"' in line
    ]
    assert len(creates) == AGENTS


def _finish(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, (out + err).decode()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("30", 30.0), ("500ms", 0.5), ("5s", 5.0), ("2m", 120.0), ("1m30s", 90.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "-1s", "5 s", "s"])
def test_not_durations(text: str) -> None:
    assert parse_duration(text) is None


def test_two_applies_with_a_lock_timeout_run_in_turn(tmp_path: Path) -> None:
    root, data_dir = _project(tmp_path, latency_ms=60)
    args = ("apply", "--auto-approve", "--parallelism", "2", "--lock-timeout", "5s")
    first, second = start_cli(root, *args), start_cli(root, *args)
    results = [_finish(first), _finish(second)]
    for code, text in results:
        assert code == 0, text
        assert "locked by" not in text
    # One created everything; the other waited, then found nothing left to do.
    outputs = sorted(text for _, text in results)
    assert sum("No changes" in text for text in outputs) == 1, outputs
    _converged(root, data_dir)


def test_unlock_force_never_frees_a_running_apply(tmp_path: Path) -> None:
    root, data_dir = _project(tmp_path, latency_ms=250)
    backend = LocalBackend(root / ".sigmaform" / "state" / "rel.json")
    running = start_cli(root, "apply", "--auto-approve", "--parallelism", "1")
    try:
        deadline = time.monotonic() + 30
        while backend.lock_holder() is None and running.poll() is None:
            assert time.monotonic() < deadline, "the apply never took the lock"
            time.sleep(0.02)
        cli = Cli(root)
        forced = cli("state", "unlock", "--force")
        assert forced.exit_code == 3, str(forced)
        assert f"pid {running.pid}" in forced.stderr and "still running" in forced.stderr
        assert backend.lock_path.exists()
        beside = cli("apply", "--auto-approve")
        assert beside.exit_code == 3, str(beside)
        assert "is locked by " in beside.stderr and f"(pid {running.pid}, apply" in beside.stderr
        assert running.poll() is None, "the apply ended before the checks: too fast"
    finally:
        code, text = _finish(running)
    assert code == 0, text
    _converged(root, data_dir)


def test_a_command_waits_for_the_lock_then_runs(example: Project) -> None:
    assert example.run("apply", "--auto-approve").exit_code == 0
    backend = LocalBackend(example.root / ".sigmaform" / "state" / "local.json")
    released = threading.Event()
    taken = threading.Event()

    def hold() -> None:
        with backend.lock(LockInfo("apply", who="ci-runner-7")):
            taken.set()
            time.sleep(0.5)
        released.set()

    holder = threading.Thread(target=hold)
    holder.start()
    taken.wait(5)
    moved = example.run("state", "mv", "agent.support", "agent.help", "--lock-timeout", "10s")
    holder.join()
    assert moved.exit_code == 0, moved.output
    assert released.is_set()
    assert "agent.help" in example.state()["resources"]


@pytest.mark.parametrize(
    "command",
    [
        ("apply", "--auto-approve"),
        ("destroy", "--auto-approve"),
        ("state", "rm", "agent.support"),
        ("state", "mv", "agent.support", "agent.help"),
        ("import", "--all"),
    ],
)
def test_a_lock_timeout_that_runs_out_is_refused_naming_the_holder(
    example: Project, command: tuple[str, ...]
) -> None:
    assert example.run("apply", "--auto-approve").exit_code == 0
    backend = LocalBackend(example.root / ".sigmaform" / "state" / "local.json")
    with backend.lock(LockInfo("apply", who="ci-runner-7")):
        started = time.monotonic()
        refused = example.run(*command, "--lock-timeout", "300ms")
        waited = time.monotonic() - started
    assert refused.exit_code == 3, refused.output
    assert "is locked by ci-runner-7@" in refused.output and "(waited 0.3s)" in refused.output
    assert "--lock-timeout" in refused.output
    assert waited >= 0.3


def test_a_bad_lock_timeout_is_a_usage_error(example: Project) -> None:
    result = example.run("apply", "--auto-approve", "--lock-timeout", "soon")
    assert result.exit_code == 1
    assert "'soon' is not a duration" in result.output
    assert example.journal() == []
    too_long = example.run("state", "rm", "agent.x", "--lock-timeout", "25h")
    assert too_long.exit_code == 1 and "longer than a day" in too_long.output
