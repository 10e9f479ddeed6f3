"""The pre-commit hook, run the way pre-commit runs it: from the repository root, its `entry`
and `args` followed by the staged files its `files` pattern selects, in one batch
(`require_serial`). This stands in for `pre-commit try-repo . sigmaform-validate --files ...`,
which would build a virtualenv and install sigmaform from the network on every run."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def hook(hook_id: str = "sigmaform-validate") -> dict[str, Any]:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    return dict(next(h for h in hooks if h["id"] == hook_id))


def run_hook(
    repo: Path, files: list[str], args: list[str] | None = None, hook_id: str = "sigmaform-validate"
) -> Any:
    """pre-commit's part: filter by `files`/`exclude`, then entry + args + filenames."""
    spec = hook(hook_id)
    selected = [
        f
        for f in files
        if re.search(spec.get("files", ""), f) and not re.search(spec.get("exclude", "^$"), f)
    ]
    argv = [*shlex.split(spec["entry"]), *(args or spec.get("args", []))]
    if spec.get("pass_filenames", True):
        argv += selected
    if not selected and not spec.get("always_run", False):
        return None  # pre-commit skips a hook no file matches
    return subprocess.run(
        argv,
        cwd=repo,
        env={"PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin", "HOME": str(repo)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_hook_manifest() -> None:
    spec = hook()
    assert spec["language"] == "python"  # pre-commit installs sigmaform from this repo
    assert spec["entry"].startswith("sigmaform validate")
    # pre-commit never passes a deleted file to a hook: only running on every commit, with
    # no file names, catches a deletion that breaks a reference.
    assert spec["always_run"] is True
    assert spec["pass_filenames"] is False
    assert spec["require_serial"] is True


def make_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(
        ROOT / "examples", repo / "infra" / "agents", ignore=shutil.ignore_patterns(".*", "ci")
    )
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs: {}\n")
    (repo / "README.md").write_text("# not a sigmaform file\n")
    return repo


def test_try_repo_equivalent_on_the_examples(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    done = run_hook(repo, ["infra/agents/agents/support.yaml"])
    assert done is not None
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "OK: 4 resources valid\n"


def test_project_in_a_subdirectory_reports_paths_from_the_repository_root(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    agent = repo / "infra" / "agents" / "agents" / "support.yaml"
    agent.write_text(agent.read_text().replace("llmTemperature: 0.3", "llmTemperature: hot"))
    # Only the prompt changed, but the project is checked whole: the broken file is reported.
    done = run_hook(repo, ["infra/agents/agents/prompts/receptionist.md", "README.md"])
    assert done is not None
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "infra/agents/agents/support.yaml:19:21: spec.agentSettings.llmTemperature: "
        "expected number, got string",
        "1 error",
    ]


def test_deleting_a_prompt_or_an_agent_fails_the_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    project = repo / "infra" / "agents"
    (project / "agents" / "prompts" / "support.md").unlink()
    # A commit holding only a deletion: pre-commit passes the hook no file at all.
    done = run_hook(repo, [])
    assert done is not None
    assert done.returncode == 1
    assert "infra/agents/agents/support.yaml:8:" in done.stdout
    assert "prompts/support.md" in done.stdout

    (project / "agents" / "prompts" / "support.md").write_text("You are Acme's support agent.\n")
    (project / "agents" / "support.yaml").unlink()
    done = run_hook(repo, [])
    assert done is not None
    assert done.returncode == 1
    assert "infra/agents/numbers/main-line.yaml:" in done.stdout
    assert "no Agent named `support`" in done.stdout


def test_commits_outside_the_projects_still_check_them_and_nothing_else(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    # Not projects of the repository: never searched, however broken.
    for folder in (".venv/lib", "node_modules/pkg", "env/lib", ".github/fixture"):
        (repo / folder).mkdir(parents=True, exist_ok=True)
        (repo / folder / "sigmaform.yaml").write_text("version: [\n")
    (repo / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    done = run_hook(repo, [".github/workflows/ci.yml", "README.md"])
    assert done is not None
    assert (done.returncode, done.stdout) == (0, "OK: 4 resources valid\n")
    empty = tmp_path / "no-project"
    empty.mkdir()
    done = run_hook(empty, [])
    assert done is not None
    assert (done.returncode, done.stdout) == (0, "OK: 0 resources valid\n")


def test_every_project_is_checked(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    shutil.copytree(repo / "infra" / "agents", repo / "team-b")
    bad = repo / "team-b" / "numbers" / "main-line.yaml"
    bad.write_text(bad.read_text().replace('phoneNumber: "+14155550123"', "phoneNumber: 555"))
    done = run_hook(repo, ["infra/agents/agents/support.yaml", "README.md"])
    assert done is not None
    assert done.returncode == 1
    assert done.stdout.startswith("team-b/numbers/main-line.yaml:")
    assert "infra/" not in done.stdout


def test_find_projects_with_paths_checks_only_theirs(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    shutil.copytree(repo / "infra" / "agents", repo / "team-b")
    bad = repo / "team-b" / "numbers" / "main-line.yaml"
    bad.write_text(bad.read_text().replace('phoneNumber: "+14155550123"', "phoneNumber: 555"))
    done = subprocess.run(
        ["sigmaform", "validate", "--find-projects", "infra/agents/agents/support.yaml"],
        cwd=repo,
        env={"PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin", "HOME": str(repo)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "OK: 4 resources valid\n")


def test_repository_config_runs_the_tools_of_this_repo() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}
    assert {"ruff", "ruff-format", "mypy", "examples-validate", "reference-up-to-date"} <= set(
        hooks
    )
    examples = hooks["examples-validate"]
    done = subprocess.run(
        shlex.split(examples["entry"]),
        cwd=ROOT,
        env={"PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout
