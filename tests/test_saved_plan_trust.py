"""A saved plan authorises an apply, it does not instruct it: edited or damaged plan files
are refused before any request, and what runs is recomputed from state and the files."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Project

Plan = dict[str, Any]


@pytest.fixture
def planned(example: Project) -> tuple[Project, Path, str]:
    """Applied example, an agent sigmaform does not manage, and a saved plan that changes
    one setting of agent.support. Returns the project, the plan file and the victim's id."""
    assert example.run("apply", "--auto-approve").exit_code == 0
    with example.api() as api:
        made = api.post("/v1/agents", json={"agentName": "Payroll (not managed)"})
    assert made.status_code == 201, made.text
    victim = str(made.json()["agentId"])
    example.edit("agents/support.yaml", "llmTemperature: 0.3", "llmTemperature: 0.6")
    plan_file = example.root / "plan.json"
    saved = example.run("plan", "--out", str(plan_file))
    assert saved.exit_code == 0, saved.output
    return example, plan_file, victim


def _resource(plan: Plan, address: str) -> dict[str, Any]:
    return next(r for r in plan["resources"] if r["address"] == address)


def _edit_id(plan: Plan, victim: str) -> None:
    _resource(plan, "agent.support")["id"] = victim


def _delete_unmanaged(plan: Plan, victim: str) -> None:
    plan["resources"].append(
        {
            "address": "agent.payroll",
            "kind": "Agent",
            "name": "payroll",
            "action": "delete",
            "id": victim,
            "changes": [],
            "drift": [],
        }
    )


def _edit_value(plan: Plan, _: str) -> None:
    (change,) = _resource(plan, "agent.support")["changes"]
    assert change["after"] == 0.6
    change["after"] = 0.9


def _add_field(plan: Plan, _: str) -> None:
    _resource(plan, "agent.support")["changes"].append(
        {"path": "welcomeMessage", "sensitive": False, "after": "Hello from the plan file"}
    )


def _noop_to_update_of_victim(plan: Plan, victim: str) -> None:
    # The shape of the reported attack: an unmanaged agent PATCHed with a managed one's
    # name, settings and webhook secret.
    receptionist = _resource(plan, "agent.receptionist")
    receptionist.update(action="update", id=victim)
    receptionist["changes"] = [
        {"path": "agentName", "sensitive": False, "after": "Acme Support (local)"},
        {"path": "agentSettings.webhooks", "sensitive": True, "after": "(sensitive)"},
    ]


def _drop_resource(plan: Plan, _: str) -> None:
    plan["resources"] = [r for r in plan["resources"] if r["address"] != "agent.receptionist"]


def _kind_changed(plan: Plan, _: str) -> None:
    _resource(plan, "agent.receptionist")["kind"] = "Chat"


def _protect_lifted(plan: Plan, _: str) -> None:
    _resource(plan, "agent.support")["protect"] = False


def _many_additions(plan: Plan, victim: str) -> None:
    for n in range(12):
        _delete_unmanaged(plan, victim)
        plan["resources"][-1]["address"] = f"agent.extra-{n:02d}"


def _destroy_flag(plan: Plan, _: str) -> None:
    plan["destroy"] = True  # would turn the apply into a destroy, were the file obeyed


TAMPERING: dict[str, tuple[Callable[[Plan, str], None], str]] = {
    # Refused before anything is compared: nobody said --destroy.
    "destroy flag set": (_destroy_flag, "plan.json is a destroy plan: it deletes every"),
    # Said, and still refused: the recomputed destroy plan differs from the file.
    "destroy flag set, applied with --destroy": (
        _destroy_flag,
        "agent.receptionist: action no-op in the plan file, delete",
    ),
    "resource removed": (
        _drop_resource,
        "agent.receptionist: missing from the plan file (no-op recomputed)",
    ),
    "kind changed": (_kind_changed, "agent.receptionist: kind Chat in the plan file, Agent"),
    "protect lifted": (_protect_lifted, "agent.support: protect False in the plan file, True"),
    "many additions": (_many_additions, "agent.extra-09: in the plan file, but not"),
    "edited id": (_edit_id, "agent.support: id "),
    "delete of an unmanaged agent": (
        _delete_unmanaged,
        "agent.payroll: in the plan file, but not a resource of state or the files",
    ),
    "edited desired value": (
        _edit_value,
        "agent.support: field agentSettings.llmTemperature has another new value",
    ),
    "added field": (
        _add_field,
        "agent.support: field welcomeMessage changes in the plan file, not when recomputed",
    ),
    "no-op turned into an update of another agent": (
        _noop_to_update_of_victim,
        "agent.receptionist: action update in the plan file, no-op recomputed",
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_edited_plan_is_refused_and_nothing_is_sent(
    planned: tuple[Project, Path, str], case: str
) -> None:
    project, plan_file, victim = planned
    tamper, expected = TAMPERING[case]
    plan = json.loads(plan_file.read_text())
    tamper(plan, victim)
    plan_file.write_text(json.dumps(plan))
    victim_before = _agent(project, victim)
    before = len(project.journal())

    said = ("--destroy",) if case.endswith("--destroy") else ()
    result = project.run("apply", str(plan_file), "--allow-delete", *said)

    assert result.exit_code == 3, result.output
    if case != "destroy flag set":
        assert "the plan file does not match the plan recomputed" in result.output
    assert expected in result.output
    if case == "many additions":  # the first ten are listed, the rest counted
        assert "agent.extra-10" not in result.output and "... and 2 more" in result.output
    assert project.writes(before) == []
    assert _agent(project, victim) == victim_before
    # Refused, not consumed: the honest plan (made again) still applies.
    assert project.run("plan", "--out", str(plan_file)).exit_code == 0
    assert project.run("apply", str(plan_file)).exit_code == 0


def test_honest_plan_applies_exactly_what_it_showed(planned: tuple[Project, Path, str]) -> None:
    project, plan_file, victim = planned
    before = len(project.journal())
    result = project.run("apply", str(plan_file), "--allow-delete")
    assert result.exit_code == 0, result.output
    (patch,) = project.writes(before)
    assert patch["method"] == "PATCH" and patch["path"] != f"/v1/agents/{victim}"
    assert patch["body"] == {"agentSettings": {"llmTemperature": 0.6}}
    assert project.run("plan", "--detailed-exitcode").exit_code == 0


def test_remote_change_since_a_refreshed_plan_refuses_it(
    planned: tuple[Project, Path, str],
) -> None:
    project, plan_file, _ = planned
    support = project.state()["resources"]["agent.support"]["id"]
    with project.api() as api:
        api.patch(f"/v1/agents/{support}", json={"welcomeMessage": "changed by hand"})
    before = len(project.journal())
    result = project.run("apply", str(plan_file))
    assert result.exit_code == 3, result.output
    assert "agent.support: field welcomeMessage changes when recomputed" in result.output
    assert project.writes(before) == []


def test_plan_made_without_refresh_is_recomputed_without_refresh(example: Project) -> None:
    assert example.run("apply", "--auto-approve").exit_code == 0
    example.edit("agents/support.yaml", "llmTemperature: 0.3", "llmTemperature: 0.6")
    plan_file = example.root / "plan.json"
    assert example.run("plan", "--no-refresh", "--out", str(plan_file)).exit_code == 0
    before = len(example.journal())
    result = example.run("apply", str(plan_file))
    assert result.exit_code == 0, result.output
    methods = [e["method"] for e in example.journal()[before:]]
    assert methods.count("PATCH") == 1


def _agent(project: Project, agent_id: str) -> Any:
    with project.api() as api:
        return api.get(f"/v1/agents/{agent_id}").json()


# -- damaged plan files -----------------------------------------------------------------


def _honest(plan_file: Path) -> Plan:
    return dict(json.loads(plan_file.read_text()))


def _with(change: Callable[[Plan], None]) -> Callable[[Path], None]:
    def write(plan_file: Path) -> None:
        plan = _honest(plan_file)
        change(plan)
        plan_file.write_text(json.dumps(plan))

    return write


def _set_first(key: str, value: Any) -> Callable[[Plan], None]:
    return lambda plan: plan["resources"][0].__setitem__(key, value)


def _deep_after(plan: Plan) -> None:
    nested: Any = "x"
    for _ in range(500):  # within json's recursion limit, past ours
        nested = [nested]
    _resource(plan, "agent.support")["changes"][0]["after"] = nested


def _truncated(plan_file: Path) -> None:
    text = plan_file.read_text()
    plan_file.write_text(text[: len(text) // 2])


def _very_deep(plan_file: Path) -> None:
    plan_file.write_text('{"formatVersion": 1, "resources": ' + "[" * 100_000 + "]" * 100_000 + "}")


def _binary(plan_file: Path) -> None:
    plan_file.write_bytes(bytes((i * 167 + 13) % 256 for i in range(4096)))


def _nan(plan_file: Path) -> None:
    plan_file.write_text(plan_file.read_text().replace("0.6", "NaN", 1))


def _directory(plan_file: Path) -> None:
    plan_file.unlink()
    plan_file.mkdir()


def _fifo(plan_file: Path) -> None:
    plan_file.unlink()
    os.mkfifo(plan_file)


DAMAGED: dict[str, tuple[Callable[[Path], None], str]] = {
    "unknown kind": (_with(_set_first("kind", "Robot")), "damaged plan"),
    "unknown action": (_with(_set_first("action", "explode")), "damaged plan"),
    "null address": (_with(_set_first("address", None)), "damaged plan"),
    "id of the wrong type": (_with(_set_first("id", {"$ne": ""})), "damaged plan"),
    "truncated": (_truncated, "invalid JSON"),
    "deeply nested value": (_with(_deep_after), "nested deeper than"),
    "100,000 brackets": (_very_deep, "nested deeper than"),
    "binary": (_binary, "not UTF-8"),
    "NaN": (_nan, "invalid JSON"),
    "directory": (_directory, "is a directory"),
    "fifo": (_fifo, "not a regular file"),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_damaged_plan_file_is_a_clean_error(planned: tuple[Project, Path, str], case: str) -> None:
    project, plan_file, _ = planned
    damage, expected = DAMAGED[case]
    damage(plan_file)
    before = len(project.journal())
    result = project.run("apply", str(plan_file))
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"Error: {plan_file}"), result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert project.journal()[before:] == []


def test_dev_zero_is_refused_at_once(example: Project) -> None:
    result = example.run("apply", "/dev/zero")
    assert result.exit_code == 1
    assert "Error: /dev/zero: not a regular file" in result.output
    assert example.journal() == []
