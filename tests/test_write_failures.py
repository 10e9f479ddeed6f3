"""A write that fails (disk full) leaves no temp file behind and the previous file intact:
state (and its backup), `plan --out` and `import`, each through the real CLI in a process
whose file size limit (RLIMIT_FSIZE) makes the write fail with EFBIG, as a full disk would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import Project

from sigmaform.emulator import EmulatorApp, running
from sigmaform.state import LocalBackend

# Runs the CLI with writes of regular files limited to LIMIT bytes; SIGXFSZ ignored, so a
# write past the limit fails with EFBIG instead of killing the process.
LIMITED = """
import resource, runpy, signal, sys
limit = int(sys.argv.pop(1))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
sys.argv[0] = "sigmaform"
runpy.run_module("sigmaform", run_name="__main__")
"""
KEY = "sk-write-failures"
BIG = "".join(
    f"Rule {n}: answer {{{{customer_name}}}} patiently and clearly.\n" for n in range(400)
)


@pytest.fixture
def project(tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """The example project against an emulator served by this process (unlimited), so the
    limited CLI process writes only sigmaform's own files."""
    root = tmp_path / "project"
    shutil.copytree(repo_root / "examples", root, ignore=shutil.ignore_patterns(".sigmaform"))
    with running(EmulatorApp(data_dir=tmp_path / "emulator")) as base_url:
        monkeypatch.setenv("SIGMAMIND_BASE_URL", base_url)
        monkeypatch.setenv("SIGMAMIND_API_KEY", KEY)
        yield Project(root)


def run_limited(project: Project, limit: int, *args: str) -> subprocess.CompletedProcess[str]:
    argv = ["-C", str(project.root), "-e", project.env, *args]
    return subprocess.run(
        [sys.executable, "-c", LIMITED, str(limit), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )


def temp_files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.name.endswith(".tmp")]


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def assert_failed_cleanly(done: subprocess.CompletedProcess[str], target: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "File too large" in done.stdout + done.stderr
    assert target in done.stdout + done.stderr


def test_failed_state_write_keeps_the_old_state_and_leaves_no_temp_file(
    project: Project,
) -> None:
    assert project.run("apply", "--auto-approve").exit_code == 0
    state_dir = project.root / ".sigmaform" / "state"
    before = snapshot(state_dir)
    with (project.root / "agents/prompts/support.md").open("a") as prompt:
        prompt.write(BIG)  # the new prompt's blob (~20 KB) is past the limit
    done = run_limited(project, len(before["local.json"]) + 2_000, "apply", "--auto-approve")
    assert_failed_cleanly(done, "local.json")
    assert temp_files(state_dir) == []
    assert snapshot(state_dir) == before  # state and its backup as they were


def test_failed_backup_copy_keeps_the_old_state_and_leaves_no_temp_file(
    project: Project,
) -> None:
    prompt = project.root / "agents/prompts/support.md"
    original = prompt.read_text()
    prompt.write_text(original + BIG)
    assert project.run("apply", "--auto-approve").exit_code == 0
    state_dir = project.root / ".sigmaform" / "state"
    # The old state as an earlier release wrote it: every prompt inline, so it is large.
    state = LocalBackend(state_dir / "local.json").read()
    assert state is not None
    inline = {
        **state.to_dict(),
        "version": 1,
        "resources": {a: r.to_dict(inline=True) for a, r in state.resources.items()},
    }
    (state_dir / "local.json").write_text(json.dumps(inline, indent=2))
    shutil.rmtree(state_dir / "local.json.blobs")
    before = snapshot(state_dir)
    prompt.write_text(original)
    # The new state fits under the limit; copying the old, larger one to the backup does not.
    done = run_limited(project, len(before["local.json"]) - 10_000, "apply", "--auto-approve")
    assert_failed_cleanly(done, "local.json")
    assert temp_files(state_dir) == []
    # The success was appended to the journal (small, its prompt in a blob); compacting it
    # into the document failed, so the document and its backup are as they were and the
    # journal keeps it.
    after = snapshot(state_dir)
    assert b"agent.support" in after.pop("local.json.journal")
    assert {k for k in after if not k.startswith("local.json.blobs/")} == set(before)
    assert {k: v for k, v in after.items() if k in before} == before
    saved = LocalBackend(state_dir / "local.json").read()
    assert saved is not None
    assert saved.resources["agent.support"].applied["instructions"] == original


def test_failed_plan_out_keeps_the_old_plan_file_and_leaves_no_temp_file(
    project: Project,
) -> None:
    assert project.run("apply", "--auto-approve").exit_code == 0
    plans = project.root / "plans"
    plan_file = plans / "plan.json"
    assert project.run("plan", "--out", str(plan_file)).exit_code == 0
    old = plan_file.read_bytes()
    with (project.root / "agents/prompts/support.md").open("a") as prompt:
        prompt.write(BIG)
    done = run_limited(project, 5_000, "plan", "--out", str(plan_file))
    assert_failed_cleanly(done, "plan.json")
    assert temp_files(plans) == []
    assert plan_file.read_bytes() == old


def test_failed_import_writes_nothing_and_leaves_no_temp_file(project: Project) -> None:
    assert project.run("apply", "--auto-approve").exit_code == 0
    with httpx.Client(base_url=os.environ["SIGMAMIND_BASE_URL"], headers={"X-API-Key": KEY}) as api:
        made = api.post("/v1/agents", json={"agentName": "Big prompt", "instructions": BIG})
    assert made.status_code == 201, made.text
    before = snapshot(project.root / "agents")
    state = (project.root / ".sigmaform/state/local.json").read_bytes()
    done = run_limited(project, 5_000, "import", made.json()["agentId"], "--name", "big")
    assert_failed_cleanly(done, "big.md")
    assert temp_files(project.root) == []
    assert snapshot(project.root / "agents") == before
    assert (project.root / ".sigmaform/state/local.json").read_bytes() == state
