"""Local state backend: atomic writes with backup, serials, and the apply lock."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sigmaform.errors import ConfigError, LockHeldError
from sigmaform.state import LocalBackend, LockInfo, ResourceState, State


def sample(state: State) -> State:
    return state.with_resource(
        "agent.a",
        ResourceState("Agent", "A1", {"agentName": "A"}, "sha256:1", "2026-11-21T10:00:00Z"),
    )


def test_write_increments_serial_sorts_keys_and_keeps_a_backup(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "s" / "dev.json")
    assert backend.read() is None
    first = backend.write(sample(State.new("dev")))
    assert first.serial == 1
    second = backend.write(first.without("agent.a"))
    assert second.serial == 2 and second.lineage == first.lineage
    text = (tmp_path / "s" / "dev.json").read_text()
    assert text.endswith("\n") and json.loads(text)["serial"] == 2
    assert list(json.loads(text)) == sorted(json.loads(text))
    backup = json.loads((tmp_path / "s" / "dev.json.backup").read_text())
    assert backup["serial"] == 1 and "agent.a" in backup["resources"]
    assert backend.read() == second


def test_damaged_state_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match=r"dev.json:1:2: invalid JSON"):
        LocalBackend(path, "dev.json").read()
    path.write_text('{"version": 9}')
    with pytest.raises(ConfigError, match="not a sigmaform state file"):
        LocalBackend(path).read()
    path.write_text('{"version": 1, "lineage": "x"}')
    with pytest.raises(ConfigError, match="damaged"):
        LocalBackend(path).read()


def test_second_lock_is_refused_naming_the_holder(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "dev.json", "dev.json")
    with backend.lock(LockInfo("apply", who="alice")):
        assert backend.is_locked()
        with (
            pytest.raises(LockHeldError, match=r"locked by alice@.*apply"),
            backend.lock(LockInfo("apply")),
        ):
            pass
    assert not backend.is_locked()
    with backend.lock(LockInfo("apply")):
        pass


def test_lock_of_a_killed_process_is_released(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from sigmaform.state import LocalBackend, LockInfo\n"
        f"b = LocalBackend(Path({str(path)!r}))\n"
        "with b.lock(LockInfo('apply')):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(60)\n"
    )
    backend = LocalBackend(path)
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
            assert backend.is_locked()
            holder = backend.lock_holder()
            assert holder is not None and holder.pid == proc.pid
            with (
                pytest.raises(LockHeldError, match=f"pid {proc.pid}"),
                backend.lock(LockInfo("apply")),
            ):
                pass
        finally:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 5
    while backend.is_locked() and time.monotonic() < deadline:
        time.sleep(0.05)
    # The dead holder's details are cleared; the lock file is never unlinked.
    removed = backend.force_unlock()
    assert removed is not None and removed.pid == proc.pid
    assert backend.lock_holder() is None
    assert (tmp_path / "dev.json.lock").exists()
    assert not (tmp_path / "dev.json.lock.info").exists()
    with backend.lock(LockInfo("apply")):
        pass


def test_fingerprint_key_is_fixed_by_lineage() -> None:
    a = State.new("dev")
    b = State(environment="dev", lineage=a.lineage, serial=5)
    assert a.fingerprint_key == b.fingerprint_key
    assert State.new("dev").fingerprint_key != a.fingerprint_key
