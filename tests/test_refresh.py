"""Refresh in plan/apply: only GETs, no noise from server defaults, drift, remote deletes."""

from __future__ import annotations

import json
from typing import Any

from conftest import Project


def applied(example: Project) -> dict[str, str]:
    result = example.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    return {a: r["id"] for a, r in example.state()["resources"].items()}


def test_plan_after_apply_sends_only_gets_and_shows_no_changes(example: Project) -> None:
    ids = applied(example)
    # The server filled in defaults for every setting the files leave out.
    with example.api() as api:
        support = api.get(f"/v1/agents/{ids['agent.support']}").json()
    assert support["agentSettings"]["ttsSpeed"] == 1.0  # not declared in support.yaml
    before = len(example.journal())
    for args in (("plan", "--detailed-exitcode"), ("plan", "--format", "json")):
        result = example.run(*args)
        assert result.exit_code == 0, result.output
    new = example.journal()[before:]
    assert new and {e["method"] for e in new} == {"GET"}
    # One read per managed resource per plan, and one listing (for possible duplicates).
    paths = sorted(e["path"] for e in new)
    expected = [f"/v1/agents/{i}" for i in ids.values()] + ["/v1/agents"]
    assert paths == sorted(expected * 2)
    data = json.loads(example.run("plan", "--format", "json").output)
    assert data["refreshed"] is True
    assert all(r["action"] == "no-op" and not r["drift"] for r in data["resources"])


def test_no_refresh_reads_nothing(example: Project) -> None:
    applied(example)
    before = len(example.journal())
    assert example.run("plan", "--no-refresh", "--detailed-exitcode").exit_code == 0
    assert example.journal()[before:] == []


def test_plan_shows_drift_in_its_own_section_and_apply_restores(example: Project) -> None:
    ids = applied(example)
    with example.api() as api:
        api.patch(
            f"/v1/agents/{ids['agent.receptionist']}",
            json={"agentSettings": {"endCallOnSilenceDuration": 99}, "welcomeMessage": "Yo."},
        )
    plan = example.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 2
    out = plan.output
    drift_at = out.index("Changed outside sigmaform (will be restored on apply):")
    update_at = out.index("~ agent.receptionist  (update")
    assert drift_at < update_at
    assert "agentSettings.endCallOnSilenceDuration: 20 -> 99" in out[drift_at:update_at]
    assert "agentSettings.endCallOnSilenceDuration: 99 -> 20" in out[update_at:]
    before = len(example.journal())
    assert example.run("apply", "--auto-approve").exit_code == 0
    (write,) = example.writes(before)
    body: dict[str, Any] = write["body"]
    assert body["agentSettings"] == {"endCallOnSilenceDuration": 20}
    assert body["welcomeMessage"].startswith("Greet the caller warmly")
    assert example.run("plan", "--detailed-exitcode").exit_code == 0


def test_agent_deleted_remotely_is_planned_as_create_and_recreated(example: Project) -> None:
    ids = applied(example)
    with example.api() as api:
        assert api.delete(f"/v1/agents/{ids['agent.receptionist']}").status_code == 204
    plan = example.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 2
    assert "+ agent.receptionist  (create)" in plan.output
    assert "note: deleted outside sigmaform: it will be created again" in plan.output
    assert "Plan: 1 to create, 0 to update, 0 to delete, 2 unchanged." in plan.output
    result = example.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "agent.receptionist: created" in result.output
    new_id = example.state()["resources"]["agent.receptionist"]["id"]
    assert new_id != ids["agent.receptionist"]
    assert {a["agentId"] for a in example.agents()} == {*ids.values(), new_id} - {
        ids["agent.receptionist"]
    }
    assert example.run("plan", "--detailed-exitcode").exit_code == 0


def test_apply_refuses_duplicate_of_unmanaged_agent_and_import_resolves_it(
    example: Project,
) -> None:
    with example.api() as api:
        made = api.post("/v1/agents", json={"agentName": "Acme Receptionist (local)"}).json()
    refused = example.run("apply", "--auto-approve")
    assert refused.exit_code == 3
    hint = example.command("import", made["agentId"], "--name", "receptionist")
    assert f"`{hint}`" in refused.output
    assert len(example.agents()) == 1  # nothing was created
    adopted = example.run("import", made["agentId"], "--name", "receptionist")
    assert adopted.exit_code == 0, adopted.output
    result = example.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "~ agent.receptionist: updated" in result.output
    assert len(example.agents()) == 3
    assert example.run("plan", "--detailed-exitcode").exit_code == 0
