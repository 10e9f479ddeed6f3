"""sigmaform on a platform without `fcntl` (Windows): the CLI, the state lock and the local
emulator must not need it. A subprocess makes `import fcntl` fail before sigmaform loads."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Project

from sigmaform.files import write_atomic

WITHOUT_FCNTL = (
    "import sys\n"
    "sys.modules['fcntl'] = None  # `import fcntl` now raises ImportError, as on Windows\n"
    "from sigmaform.cli import main\n"
    "sys.argv = ['sigmaform', *sys.argv[1:]]\n"
    "main()\n"
)


def run_without_fcntl(repo_root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGMA", "NO_COLOR"))}
    env["PYTHONPATH"] = str(repo_root)
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_FCNTL, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_cli_runs_without_fcntl(example: Project, repo_root: Path) -> None:
    project = ("-C", str(example.root), "-e", "local")
    version = run_without_fcntl(repo_root, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("sigmaform, version ")

    for args, code in (
        (("validate",), 0),
        (("plan", "--detailed-exitcode"), 2),
        (("apply", "--auto-approve", "--lock-timeout", "5s"), 0),
        (("plan", "--detailed-exitcode"), 0),
        (("state", "unlock"), 0),
    ):
        done = run_without_fcntl(repo_root, *project, *args)
        assert done.returncode == code, f"{args}: {done.stdout}{done.stderr}"
        assert "Traceback" not in done.stderr
    assert len(example.agents()) == 3
    state = example.state()
    assert sorted(state["resources"]) == [
        "agent.appointment-reminder",
        "agent.receptionist",
        "agent.support",
    ]
    assert [
        json.loads(line)["method"]
        for line in example.emulator_dir.joinpath("journal.jsonl").read_text().splitlines()
    ].count("POST") == 3


def test_atomic_writes_keep_the_mode_without_fchmod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Windows has no os.fchmod before Python 3.13; every state write goes through here.
    monkeypatch.delattr(os, "fchmod", raising=False)
    target = tmp_path / "prod.json"
    write_atomic(target, "one\n")
    os.chmod(target, 0o640)
    write_atomic(target, "two\n", backup=True)
    assert target.read_text() == "two\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
