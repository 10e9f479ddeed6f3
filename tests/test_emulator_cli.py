"""`sigmaform emulator`: serves until SIGINT, and says clearly why it cannot start."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import httpx
from click.testing import CliRunner

from sigmaform.cli import cli
from sigmaform.emulator import read_journal


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def first_line(stream: IO[str] | None, timeout: float = 30) -> str:
    """The next line of a child's output, without hanging the test if it never comes."""
    assert stream is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    return lines.get(timeout=timeout)


def test_serves_until_sigint(tmp_path: Path) -> None:
    port = free_port()
    data, journal = tmp_path / "data", tmp_path / "journal.jsonl"
    command = [sys.executable, "-m", "sigmaform", "emulator", "--port", str(port)]
    command += ["--data", str(data), "--journal", str(journal), "--api-key", "cli-key"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        line = first_line(proc.stdout)
        assert line.strip() == (
            f"SigmaMind emulator listening on http://127.0.0.1:{port} (data: {data})"
        )
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers={"X-API-Key": "cli-key"}) as client:
            created = client.post("/v1/agents", json={"agentName": "Over HTTP"})
            assert created.status_code == 201
            wrong = client.get("/v1/agents", headers={"X-API-Key": "other"})
            assert wrong.status_code == 401
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Emulator stopped." in out
    assert "Traceback" not in err
    assert [e.status for e in read_journal(journal)] == [201, 401]
    assert "cli-key" not in journal.read_text()


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["emulator", "--port", str(port)])
    assert result.exit_code == 1
    assert f"Error: cannot listen on 127.0.0.1:{port}: address already in use" in result.stderr
    assert "Traceback" not in result.output


def test_non_loopback_host_warns(tmp_path: Path) -> None:
    # 192.0.2.1 (TEST-NET-1) is on no interface here, so binding fails without any traffic.
    result = CliRunner().invoke(cli, ["emulator", "--host", "192.0.2.1", "--port", "0"])
    assert "Warning: 192.0.2.1 is not a loopback address" in result.stderr
    assert result.exit_code == 1
    assert "Error: cannot listen on 192.0.2.1:0: " in result.stderr


def test_bad_options_are_usage_errors() -> None:
    # Exit 1, as every usage error: 2 means "changes pending" to a script.
    result = CliRunner().invoke(cli, ["emulator", "--error-rate", "2"])
    assert result.exit_code == 1
    assert "--error-rate" in result.stderr
    result = CliRunner().invoke(cli, ["emulator", "--settings-patch", "deep"])
    assert result.exit_code == 1


def test_bad_emulator_json_in_data_dir(tmp_path: Path) -> None:
    (tmp_path / "emulator.json").write_text('{"colour": 1}')
    result = CliRunner().invoke(cli, ["emulator", "--data", str(tmp_path), "--port", "0"])
    assert result.exit_code == 1
    assert "emulator.json: unknown keys colour" in result.stderr
