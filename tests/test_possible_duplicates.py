"""Possible duplicates: an unmanaged agent named like a managed one shows in every plan
and counts as drift, so the damage of any past race is visible."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from conftest import Project

NAME = "Acme Support (local)"


def setup(example: Project) -> tuple[str, str]:
    """Apply the example, then create a second "Acme Support (local)" as a race would."""
    result = example.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    managed = example.state()["resources"]["agent.support"]["id"]
    with example.api() as api:
        made = api.post("/v1/agents", json={"agentName": NAME, "instructions": "copy"})
    assert made.status_code in (200, 201), made.text
    return managed, str(made.json()["agentId"])


def valid(repo_root: Path, name: str, data: Any) -> None:
    schema = json.loads((repo_root / "schemas" / name).read_text())
    jsonschema.Draft202012Validator(schema).validate(data)


def test_every_plan_reports_an_unmanaged_namesake(example: Project, repo_root: Path) -> None:
    _, extra = setup(example)
    text = example.run("plan", "--detailed-exitcode")
    # Nothing for sigmaform to change: the report is for a human to act on.
    assert text.exit_code == 0, text.output
    assert (
        "Possible duplicates (not managed, named like a managed agent; remove them in "
        "SigmaMind or `sigmaform import` them):\n"
        f'  ? possible duplicate of agent.support: {extra}  ("{NAME}")\n'
    ) in text.output
    data = json.loads(example.run("plan", "--format", "json").output)
    valid(repo_root, "plan.schema.json", data)
    assert data["possibleDuplicates"] == [
        {"address": "agent.support", "id": extra, "agentName": NAME}
    ]
    assert data["summary"]["possibleDuplicates"] == 1
    markdown = example.run("plan", "--format", "markdown").output
    assert f"| `agent.support` | `{extra}` | `{NAME}` |" in markdown
    # Limited to another resource, the plan does not look at agent.support's namesakes.
    other = example.run("plan", "--target", "Agent.receptionist")
    assert "possible duplicate" not in other.output


def test_drift_counts_possible_duplicates_and_exits_2(example: Project, repo_root: Path) -> None:
    _, extra = setup(example)
    drift = example.run("drift")
    assert drift.exit_code == 2
    assert f"  ? possible duplicate of agent.support: {extra}" in drift.output
    assert (
        "Drift: 0 changed outside sigmaform, 0 deleted outside sigmaform, 3 unchanged;"
        " 1 possible duplicate." in drift.output
    )
    data = json.loads(example.run("drift", "--format", "json").output)
    valid(repo_root, "drift.schema.json", data)
    assert data["summary"]["possibleDuplicates"] == 1
    assert data["possibleDuplicates"][0]["id"] == extra
    markdown = example.run("drift", "--format", "markdown")
    assert markdown.exit_code == 2 and f"`{extra}`" in markdown.output
    with example.api() as api:
        assert api.delete(f"/v1/agents/{extra}").status_code == 204
    assert example.run("drift").exit_code == 0


def test_a_recovered_create_is_not_reported_as_its_own_duplicate(example: Project) -> None:
    """State names an agent that is gone, and an agent of that name holding exactly the
    files' config exists (a re-create whose apply died before saving): the plan recovers
    it, and does not also call it a duplicate."""
    managed, extra = setup(example)
    with example.api() as api:
        assert api.delete(f"/v1/agents/{extra}").status_code == 204
    state_file = example.root / ".sigmaform" / "state" / "local.json"
    data = json.loads(state_file.read_text())
    data["resources"]["agent.support"]["id"] = "gone0000000000000"
    state_file.write_text(json.dumps(data))
    plan = example.run("plan")
    assert f"(recover, id {managed})" in plan.output, plan.output
    assert "possible duplicate" not in plan.output
