"""`plan --no-refresh` tells an unchanged resource by one comparison of what the files
declare with what state holds (diff.same_units), skipping the field-by-field one. A change
in any input that comparison stands for still shows as a change, exit 2: the files, a
prompt, a `${var}` or `${secret}` value, an environment override, the state itself, and a
value equal in Python but not in JSON (`0` for `false`). A local state is read before the
files; problems are still reported files first."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Project


@pytest.fixture
def applied(example: Project) -> Project:
    assert example.run("apply", "--auto-approve").exit_code == 0
    assert example.run("plan", "--no-refresh", "--detailed-exitcode").exit_code == 0
    return example


def _changes(project: Project) -> str:
    result = project.run("plan", "--no-refresh", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert "1 to update" in result.output, result.output
    return str(result.output)


def test_a_changed_field_in_a_file_shows(applied: Project) -> None:
    applied.edit("agents/support.yaml", "llmTemperature: 0.3", "llmTemperature: 0.35")
    out = _changes(applied)
    assert "agentSettings.llmTemperature" in out
    assert "0.35" in out


def test_a_changed_prompt_shows(applied: Project) -> None:
    prompt = applied.root / "agents" / "prompts" / "support.md"
    prompt.write_text(prompt.read_text() + "Always thank the caller.\n")
    out = _changes(applied)
    assert "instructions" in out
    assert "+Always thank the caller." in out


def test_a_changed_var_shows(applied: Project) -> None:
    applied.edit("sigmaform.yaml", 'suffix: " (local)"', 'suffix: " (local two)"')
    result = applied.run("plan", "--no-refresh", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert "Acme Support (local two)" in result.output


def test_a_changed_secret_shows_masked(applied: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_WEBHOOK_SECRET", "rotated-support-secret")
    out = _changes(applied)
    assert "agentSettings.webhooks" in out
    assert "(sensitive" in out
    assert "rotated-support-secret" not in out


def test_an_environment_override_shows(applied: Project) -> None:
    path = applied.root / "agents" / "support.yaml"
    path.write_text(
        path.read_text().replace(
            "environments:\n", "environments:\n  local:\n    agentSettings: {llmTemperature: 0.9}\n"
        )
    )
    assert "0.9" in _changes(applied)
    assert applied.run("apply", "--auto-approve").exit_code == 0
    assert applied.run("plan", "--no-refresh", "--detailed-exitcode").exit_code == 0
    applied.edit("agents/support.yaml", "llmTemperature: 0.9}", "llmTemperature: 0.8}")
    assert "0.8" in _changes(applied)


def _edit_state(project: Project, change: object) -> None:
    path = project.root / ".sigmaform" / "state" / "local.json"
    document = json.loads(path.read_text())
    change(document["resources"]["agent.support"]["applied"])  # type: ignore[operator]
    path.write_text(json.dumps(document))


def test_a_changed_state_shows(applied: Project) -> None:
    _edit_state(applied, lambda held: held.update(welcomeMessage="Hello from an old apply"))
    out = _changes(applied)
    assert "welcomeMessage" in out
    assert "Hello from an old apply" in out


def test_a_value_equal_in_python_but_not_in_json_shows(applied: Project) -> None:
    # `0 == False` in Python, so the comparison of whole specs finds them equal; the
    # field-by-field one tells a number from a boolean, and so must the quick one.
    _edit_state(applied, lambda held: held["agentSettings"].update(ivrHangup=0))
    assert "agentSettings.ivrHangup" in _changes(applied)


def test_a_field_only_state_holds_shows(applied: Project) -> None:
    # Applied once, since removed from the file: no longer managed (no update, exit 0),
    # and said so, which the quick comparison must not hide either.
    applied.edit("agents/support.yaml", "    ivrHangup: false\n", "")
    result = applied.run("plan", "--no-refresh", "--detailed-exitcode")
    assert "ivrHangup" in result.output, result.output


def test_file_problems_come_before_a_damaged_state(applied: Project) -> None:
    # Plan reads a local state before the files (its lineage keys the secrets, stretched
    # while the files load), but reports what it found in the order it always did.
    state = applied.root / ".sigmaform" / "state" / "local.json"
    state.write_text("{not json")
    applied.edit("agents/support.yaml", "  welcomeMessageType: static\n", "  welcomeMesage: x\n")
    result = applied.run("plan", "--no-refresh")
    assert result.exit_code == 1
    assert "agents/support.yaml" in result.output
    assert "welcomeMesage" in result.output
    assert "local.json" not in result.output
    applied.edit("agents/support.yaml", "  welcomeMesage: x\n", "  welcomeMessageType: static\n")
    result = applied.run("plan", "--no-refresh")
    assert result.exit_code == 1
    assert "local.json" in result.output
    assert "invalid JSON" in result.output
