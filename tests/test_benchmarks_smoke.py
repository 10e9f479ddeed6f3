"""The benchmark scripts still run: a 20-agent project is generated, applied and planned."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from benchmarks.generate import change_agents, generate
from sigmaform.cli import cli

REPO = Path(__file__).resolve().parent.parent


def test_generated_project_applies_and_then_plans_no_changes(tmp_path: Path) -> None:
    root = generate(tmp_path / "p", 20)
    runner = CliRunner()
    base = ["-C", str(root), "-e", "local", "--no-color"]
    assert runner.invoke(cli, [*base, "validate"]).exit_code == 0
    assert runner.invoke(cli, [*base, "apply", "--auto-approve"]).exit_code == 0
    assert runner.invoke(cli, [*base, "plan", "--detailed-exitcode"]).exit_code == 0
    changes = change_agents(root, 3, 20)
    result = runner.invoke(cli, [*base, "plan", "--no-refresh", "--detailed-exitcode"])
    assert result.exit_code == 2
    assert "Plan: 0 to create, 3 to update" in result.output
    assert {c.name for c in changes} == {"agent-00000", "agent-00006", "agent-00012"}


def test_generation_is_deterministic(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", 5, seed=3)
    b = generate(tmp_path / "b", 5, seed=3)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def test_run_quick_plan_no_refresh_prints_the_table(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "run.py"),
            "--quick",
            "--only",
            "plan-no-refresh",
            "--sizes",
            "20",
            "--runs",
            "1",
            "--work",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| `plan --no-refresh`, 20 agents, nothing changed |" in result.stdout
    assert "| `plan --no-refresh`, 20 agents, 1 changed |" in result.stdout
    assert "peak RSS" in result.stdout
