"""`sigmaform show PLANFILE`: a saved plan printed as `plan` printed it, offline."""

from __future__ import annotations

import json

import pytest
from conftest import Project


def _changed_plan(example: Project) -> None:
    """State with something to update, to delete and to create, so every section shows."""
    assert example.run("apply", "--auto-approve").exit_code == 0
    example.edit("agents/support.yaml", "llmTemperature: 0.3", "llmTemperature: 0.5")
    (example.root / "agents" / "receptionist.yaml").unlink()


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_show_prints_what_plan_printed(example: Project, fmt: str) -> None:
    _changed_plan(example)
    out = example.root / "plan.json"
    planned = example.run("plan", "--format", fmt, "--out", str(out))
    assert planned.exit_code == 0, planned.output
    printed = planned.stdout
    if fmt == "text":  # plan adds where it saved the plan; the plan itself is the rest
        printed = printed.rsplit("Saved the plan to", 1)[0]
    requests = len(example.journal())
    shown = example.run("show", str(out), "--format", fmt)
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == printed
    assert "llmTemperature" in shown.stdout
    assert len(example.journal()) == requests  # nothing read from the API


def test_show_needs_no_environment_secrets_or_project(
    example: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _changed_plan(example)
    out = example.root / "plan.json"
    assert example.run("plan", "--out", str(out)).exit_code == 0
    from click.testing import CliRunner

    from sigmaform.cli import cli

    elsewhere = tmp_path_factory.mktemp("no-project")
    result = CliRunner().invoke(cli, ["-C", str(elsewhere), "show", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["environment"] == "local"


def test_show_refuses_an_edited_plan_file(example: Project) -> None:
    _changed_plan(example)
    out = example.root / "plan.json"
    assert example.run("plan", "--out", str(out)).exit_code == 0
    data = json.loads(out.read_text())
    data["resources"][0]["action"] = "launch-missiles"
    out.write_text(json.dumps(data))
    result = example.run("show", str(out))
    assert result.exit_code == 1
    assert "damaged plan" in result.output
    assert "Traceback" not in result.output


def test_show_of_a_missing_file_is_exit_1(example: Project) -> None:
    result = example.run("show", str(example.root / "nope.json"))
    assert result.exit_code == 1
    assert "plan file not found" in result.output
