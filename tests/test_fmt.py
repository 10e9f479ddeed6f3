"""`fmt`: one canonical layout for resource files, comments kept, the config unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from conftest import Project
from hypothesis import given, settings
from hypothesis import strategies as st
from test_pre_commit_hook import hook, run_hook

from sigmaform.cli import cli
from sigmaform.fmt import format_text
from sigmaform.project import load_project
from sigmaform.yamledit import dump_documents, load_documents

SCRAMBLED = """\
# A hand-written agent, keys in no particular order.
spec:
    # The name callers never hear.
    agentName: "Scrambled ${var.suffix}"
    agentSettings:
        llmModel: gpt-4o-mini    # cheap enough (comments keep their column)
        webhooks:
        - url: "https://hooks.example/x"
          events: [conversation_ended]
          name: x

        language: en_US
    welcomeMessage: "Line one\\nLine two"
    instructions: 'Be brief.'
environments:
    prod:
        agentSettings: {llmModel: gpt-4o}
name: scrambled
protect: false
kind: Agent
"""

CANONICAL = """\
# A hand-written agent, keys in no particular order.
kind: Agent
name: scrambled
protect: false
spec:
  # The name callers never hear.
  agentName: "Scrambled ${var.suffix}"
  instructions: 'Be brief.'
  welcomeMessage: |-
    Line one
    Line two
  agentSettings:
    language: en_US
    llmModel: gpt-4o-mini        # cheap enough (comments keep their column)
    webhooks:
      - name: x
        url: "https://hooks.example/x"
        events: [conversation_ended]
environments:
  prod:
    agentSettings: {llmModel: gpt-4o}
"""


def rendered(root: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every environment's resources as the loader renders them."""
    out = {}
    for env in ("local", "staging", "prod"):
        project = load_project(root, env, secrets="placeholder")
        out[env] = [
            (r.kind, r.name, r.spec, r.protect, r.ignore_changes, r.source)
            for r in project.resources
        ]
    return out


def test_the_examples_are_formatted(repo_root: Path) -> None:
    result = CliRunner().invoke(cli, ["-C", str(repo_root / "examples"), "fmt", "--check"])
    assert result.exit_code == 0, result.output
    assert result.output == ""


def test_check_lists_files_with_keys_out_of_order_and_exits_1(example: Project) -> None:
    example.edit(
        "agents/receptionist.yaml", "kind: Agent\nname: receptionist\n", "name: receptionist\n"
    )
    path = example.root / "agents/receptionist.yaml"
    path.write_text(path.read_text() + "kind: Agent\n")
    before = path.read_text()
    result = example.run("fmt", "--check")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "would reformat agents/receptionist.yaml",
        "1 file(s) would be reformatted: run `sigmaform fmt`",
    ]
    assert path.read_text() == before  # --check writes nothing


def test_fmt_writes_the_canonical_layout_keeping_comments(example: Project) -> None:
    path = example.root / "agents/scrambled.yaml"
    path.write_text(SCRAMBLED)
    before = rendered(example.root)
    result = example.run("fmt")
    assert result.exit_code == 0, result.output
    assert result.output == "formatted agents/scrambled.yaml\n"
    assert path.read_text() == CANONICAL
    assert rendered(example.root) == before  # the config is what it was
    again = example.run("fmt")
    assert (again.exit_code, again.output) == (0, "")  # idempotent
    assert path.read_text() == CANONICAL


def test_fmt_of_the_examples_never_changes_the_rendered_config(example: Project) -> None:
    for relative in ("agents/support.yaml", "agents/appointment-reminder.yaml"):
        path = example.root / relative
        # Another layout: four spaces per level.
        documents = load_documents(path.read_text(), relative)
        path.write_text(dump_documents(documents, (4, 4, 2)))
        assert "\n        llmModel:" in path.read_text()
    before = rendered(example.root)
    assert example.run("fmt", "--check").exit_code == 1
    assert example.run("fmt").exit_code == 0
    assert rendered(example.root) == before
    assert example.run("fmt", "--check").exit_code == 0


def test_paths_choose_files_and_other_yaml_is_left_alone(example: Project) -> None:
    (example.root / "agents/scrambled.yaml").write_text(SCRAMBLED)
    project_file = (example.root / "sigmaform.yaml").read_text()
    result = example.run("fmt", "sigmaform.yaml", "agents/receptionist.yaml")
    assert (result.exit_code, result.output) == (0, "")
    assert (example.root / "sigmaform.yaml").read_text() == project_file
    assert (example.root / "agents/scrambled.yaml").read_text() == SCRAMBLED
    result = example.run("fmt", "agents")
    assert result.output == "formatted agents/scrambled.yaml\n"


def test_bad_yaml_and_missing_paths_are_errors(example: Project) -> None:
    (example.root / "agents/broken.yaml").write_text("kind: Agent\nname: [unclosed\n")
    result = example.run("fmt", "agents/broken.yaml")
    assert result.exit_code == 1
    assert "agents/broken.yaml:3" in result.output
    result = example.run("fmt", "agents/nowhere.yaml")
    assert result.exit_code == 1
    assert "agents/nowhere.yaml: no such file or directory" in result.output


def test_pre_commit_hook_fails_on_an_unformatted_file(example: Project) -> None:
    spec = hook("sigmaform-fmt")
    assert spec["entry"] == "sigmaform fmt --check"
    assert spec["require_serial"] is True
    (example.root / "agents/scrambled.yaml").write_text(SCRAMBLED)
    files = ["agents/support.yaml", "agents/scrambled.yaml", "agents/prompts/support.md"]
    done = run_hook(example.root, files, hook_id="sigmaform-fmt")
    assert done is not None
    assert done.returncode == 1, done.stderr
    assert done.stdout == "would reformat agents/scrambled.yaml\n"
    assert run_hook(example.root, ["agents/support.yaml"], hook_id="sigmaform-fmt").returncode == 0


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80))
def test_any_string_keeps_its_value_through_fmt(text: str) -> None:
    written = yaml.safe_dump(
        {"spec": {"welcomeMessage": text, "agentName": "n"}, "name": "n", "kind": "Agent"},
        allow_unicode=True,
        sort_keys=False,
    )
    formatted = format_text(written, "a.yaml")
    assert yaml.safe_load(formatted) == yaml.safe_load(written)
    assert format_text(formatted, "a.yaml") == formatted
