"""The shipped examples and the `init` scaffold render cleanly in every environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sigmaform.cli import cli
from sigmaform.operations import open_project
from sigmaform.project import Project

ROOT = Path(__file__).resolve().parent.parent


def every_environment(root: Path) -> list[Project]:
    first = open_project(root, "local", secrets="placeholder")
    return [open_project(root, env, secrets="placeholder") for env in sorted(first.environments)]


def agent_names(projects: list[Project]) -> dict[str, list[str]]:
    return {
        p.environment.name: [r.spec["agentName"] for r in p.resources if r.kind == "Agent"]
        for p in projects
    }


def test_examples_render_agent_names_without_surrounding_whitespace() -> None:
    # An empty `${var.suffix}` after a space once made prod's names "Acme Support ".
    names = agent_names(every_environment(ROOT / "examples"))
    assert sorted(names) == ["local", "prod", "staging"]
    for env, rendered in names.items():
        assert rendered, env
        for name in rendered:
            assert name == name.strip(), f"{env}: {name!r}"
    assert "Acme Support" in names["prod"]
    assert "Acme Support (staging)" in names["staging"]


def test_scaffold_renders_agent_names_without_surrounding_whitespace(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["init", str(tmp_path)])
    assert result.exit_code == 0, result.output
    # Turn on the environments the scaffold suggests in comments, as a user would.
    text = (tmp_path / "sigmaform.yaml").read_text()
    head, commented = text.split("  # staging:\n", 1)
    (tmp_path / "sigmaform.yaml").write_text(
        head
        + "  staging:\n"
        + commented.replace("\n  #   ", "\n    ").replace("  # prod:", "  prod:")
    )
    names = agent_names(every_environment(tmp_path))
    assert sorted(names) == ["local", "prod", "staging"]
    assert names["prod"] == ["Example Agent"]
    assert names["staging"] == ["Example Agent (staging)"]


@pytest.mark.parametrize("env", ["local", "staging", "prod"])
def test_examples_validate_in_each_environment(env: str) -> None:
    result = CliRunner().invoke(cli, ["-C", str(ROOT / "examples"), "-e", env, "validate"])
    assert result.exit_code == 0, result.output
