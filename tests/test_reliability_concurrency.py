"""Concurrency: two applies started together on one environment, as two real processes.

Exactly one runs; the other is refused at once (exit 3) and names the holder of the lock;
the server ends with every declared agent exactly once.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from filelock import FileLock
from reliability import (
    API_KEY,
    Cli,
    agent_name,
    agent_spec,
    assert_converged,
    assert_no_secrets,
    inspector,
    list_agents,
    start_cli,
    write_agents,
    write_project,
    written_files,
)

from sigmaform.errors import LockHeldError
from sigmaform.state import LocalBackend, LockInfo

AGENTS = 12
LOCAL = {"baseUrl": "local:.sigmaform/emulator", "apiKeyEnv": "REL_API_KEY"}
# Slow enough (about a second of requests at parallelism 2) that the second process always
# reaches the lock while the first still holds it.
SLOW = {"latency_ms": 120}


def _race(root: Path, texts: list[str]) -> None:
    """Start two applies together; check that one ran and the other was refused."""
    args = ("apply", "--auto-approve", "--parallelism", "2")
    first, second = start_cli(root, *args), start_cli(root, *args)
    processes = [first, second]
    loser = _wait_any(processes)
    out, err = (s.decode() for s in loser.communicate())
    winner = second if loser is first else first
    texts += [out, err]
    assert loser.returncode == 3, out + err
    match = re.search(r"is locked by \S+ \(pid (\d+), apply, since ", err)
    assert match is not None, err
    assert int(match.group(1)) == winner.pid
    assert f"run `sigmaform -C {root} state unlock`" in err  # one environment: no -e
    assert winner.poll() is None, "the apply ended before the other was refused: too fast"
    # The lock of a live process is not removed without --force.
    unlock = Cli(root)("state", "unlock")
    texts.append(unlock.text)
    if winner.poll() is None:  # (it may just have finished: then there is nothing to check)
        assert unlock.exit_code == 3, str(unlock)
        assert f"pid {winner.pid}" in unlock.stderr and "still running" in unlock.stderr
    out, err = (s.decode() for s in winner.communicate(timeout=60))
    texts += [out, err]
    assert winner.returncode == 0, out + err
    assert "Apply complete" in out


def _wait_any(processes: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    while True:
        for process in processes:
            try:
                process.wait(timeout=0.02)
            except subprocess.TimeoutExpired:
                continue
            return process


def test_two_applies_at_once_one_runs_the_other_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "project"
    write_project(root, LOCAL)
    data_dir = root / ".sigmaform" / "emulator"
    data_dir.mkdir(parents=True)
    (data_dir / "emulator.json").write_text(json.dumps(SLOW))
    texts: list[str] = []

    specs = {agent_name(i): agent_spec(i) for i in range(AGENTS)}
    write_agents(root, specs)
    _race(root, texts)  # both want to create everything
    specs = {agent_name(i): agent_spec(i, revision=1) for i in range(AGENTS)}
    write_agents(root, specs)
    _race(root, texts)  # both want to update everything

    (data_dir / "emulator.json").unlink()
    with inspector(data_dir, API_KEY) as api:
        remote = list_agents(api)
    assert_converged(root, remote, {s["agentName"] for s in specs.values()})
    cli = Cli(root)
    plan = cli("plan", "--detailed-exitcode")
    assert plan.exit_code == 0 and "Changed outside sigmaform" not in plan.stdout, str(plan)
    assert_no_secrets([*texts, *cli.outputs()], written_files(root))


def test_refused_apply_names_a_holder_that_just_took_the_lock(tmp_path: Path) -> None:
    """The holder writes its details just after taking the lock; a process refused in that
    moment must still name it (found by the race above: "locked by another process")."""
    backend = LocalBackend(tmp_path / "rel.json")
    with FileLock(backend.lock_path):  # taken, details not written yet
        holder = LockInfo("apply", who="ci", host=socket.gethostname(), pid=os.getpid())
        late = threading.Timer(
            0.1, lambda: backend.info_path.write_text(json.dumps(holder.to_dict()))
        )
        late.start()
        with pytest.raises(LockHeldError) as refused, backend.lock(LockInfo("apply")):
            pass
        late.join()
    assert f"locked by ci@{socket.gethostname()} (pid {os.getpid()}, apply" in str(refused.value)
