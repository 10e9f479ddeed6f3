"""Renames travel with the code (issue 13, item 4): `moved:` in sigmaform.yaml, `state mv`.

In process against the embedded emulator (`local:`), and over a loopback socket with
staging and prod as two workspaces, the move promoted from one to the other.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Project
from multienv import PROD_KEY, PROD_NUMBER, STAGING_KEY, STAGING_NUMBER, MultiEnv, multi

__all__ = ["multi"]  # the fixture, imported for pytest


def applied(project: Project) -> None:
    result = project.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output


def add_moved(path: Path, *entries: tuple[str, str]) -> None:
    """Append a `moved:` list to sigmaform.yaml."""
    lines = ["moved:"] + [f"  - {{from: {a}, to: {b}}}" for a, b in entries]
    path.write_text(path.read_text() + "\n".join(lines) + "\n")


def rename_receptionist(example: Project) -> None:
    example.edit("agents/receptionist.yaml", "name: receptionist", "name: front-desk")


def test_moved_entry_plans_a_move_and_apply_sends_nothing(example: Project) -> None:
    applied(example)
    before_id = example.state()["resources"]["agent.receptionist"]["id"]
    rename_receptionist(example)
    add_moved(example.root / "sigmaform.yaml", ("agent.receptionist", "agent.front-desk"))

    plan = example.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    assert "  > agent.receptionist -> agent.front-desk (moved)" in plan.output
    assert "Plan: 0 to create, 0 to update, 0 to delete, 1 to move, 2 unchanged." in plan.output
    assert "+ agent.front-desk" not in plan.output and "- agent.receptionist" not in plan.output
    data = json.loads(example.run("plan", "--format", "json").output)
    (moved,) = [r for r in data["resources"] if r["action"] != "no-op"]
    assert moved["address"] == "agent.front-desk"
    assert moved["action"] == "move" and moved["movedFrom"] == "agent.receptionist"
    assert moved["id"] == before_id and moved["changes"] == []
    assert data["summary"]["move"] == 1 and data["summary"]["create"] == 0

    journal = len(example.journal())
    result = example.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "agent.front-desk: moved: from agent.receptionist" in result.output
    assert example.writes(journal) == []  # the move itself sends no request
    resources = example.state()["resources"]
    assert "agent.receptionist" not in resources
    assert resources["agent.front-desk"]["id"] == before_id
    assert resources["agent.front-desk"]["configDigest"]  # promotion will trust it
    assert len(example.agents()) == 3
    assert before_id in {a["agentId"] for a in example.agents()}

    # The entry stays in the file: `from` is no longer in state, so it is a no-op.
    again = example.run("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "(moved)" not in again.output


def test_move_with_a_change_is_one_update_and_the_move(example: Project) -> None:
    applied(example)
    rename_receptionist(example)
    example.edit(
        "agents/receptionist.yaml", "endCallOnSilenceDuration: 20", "endCallOnSilenceDuration: 25"
    )
    add_moved(example.root / "sigmaform.yaml", ("agent.receptionist", "agent.front-desk"))
    plan = example.run("plan")
    assert "agent.receptionist -> agent.front-desk (moved)  (update, id " in plan.output
    assert "agentSettings.endCallOnSilenceDuration: 20 -> 25" in plan.output
    assert "Plan: 0 to create, 1 to update, 0 to delete, 1 to move, 2 unchanged." in plan.output
    journal = len(example.journal())
    assert example.run("apply", "--auto-approve").exit_code == 0
    (patch,) = example.writes(journal)
    assert patch["method"] == "PATCH"
    assert patch["body"] == {"agentSettings": {"endCallOnSilenceDuration": 25}}
    assert example.run("plan", "--detailed-exitcode").exit_code == 0


def test_rename_without_moved_is_refused_naming_both_addresses(example: Project) -> None:
    applied(example)
    rename_receptionist(example)
    plan = example.run("plan")
    assert plan.exit_code == 0, plan.output
    hint = "moved: [{from: agent.receptionist, to: agent.front-desk}]"
    assert "agent.receptionist already manages an agent named 'Acme Receptionist (local)'" in (
        plan.output
    )
    assert hint in plan.output
    journal = len(example.journal())
    refused = example.run("apply", "--auto-approve", "--allow-delete")
    assert refused.exit_code == 3, refused.output
    assert "agent.receptionist already manages" in refused.output and hint in refused.output
    assert example.writes(journal) == []
    names = [a["agentName"] for a in example.agents()]
    assert names.count("Acme Receptionist (local)") == 1


def test_moved_validation_errors_name_the_line(example: Project) -> None:
    add_moved(
        example.root / "sigmaform.yaml",
        ("agent.receptionist", "agent.nowhere"),
        ("agent.support", "agent.front-desk"),
        ("agent.support", "agent.other"),
        ("agent.a", "agent.front-desk"),
        ("agent.b", "agent.c"),
        ("agent.c", "agent.b"),
        ("agent.x", "phone-number.x"),
    )
    lines = (example.root / "sigmaform.yaml").read_text().splitlines()
    first = lines.index("moved:") + 2  # 1-based line of the first entry
    result = example.run("validate")
    assert result.exit_code == 1
    out = result.output
    assert f"sigmaform.yaml:{first}:" in out and "`agent.nowhere` is not declared" in out
    assert (
        f"sigmaform.yaml:{first + 2}:" in out
        and "`agent.support` is already moved by moved[1]" in out
    )
    assert f"sigmaform.yaml:{first + 3}:" in out
    assert "`agent.front-desk` is already the target of moved[1]" in out
    assert "form a cycle" in out
    assert "a move cannot change a resource's kind" in out
    assert "Traceback" not in out
    # plan refuses the same file before sending anything.
    planned = example.run("plan")
    assert planned.exit_code == 1 and example.journal() == []


def test_moved_from_not_in_state_is_a_no_op(example: Project) -> None:
    add_moved(example.root / "sigmaform.yaml", ("agent.old-name", "agent.receptionist"))
    assert example.run("validate").exit_code == 0
    plan = example.run("plan")
    assert "(moved)" not in plan.output
    assert "Plan: 3 to create, 0 to update, 0 to delete, 0 unchanged." in plan.output


def _rename_support(multi: MultiEnv) -> None:
    multi.edit("agents/support.yaml", "name: support", "name: support-line")
    multi.edit("numbers/main-line.yaml", "inboundAgent: support", "inboundAgent: support-line")
    add_moved(multi.root / "sigmaform.yaml", ("agent.support", "agent.support-line"))


def test_move_over_http_rewrites_references_and_travels_through_promote(
    multi: MultiEnv,
) -> None:
    assert multi.run("apply", "--auto-approve").exit_code == 0
    promoted = multi.run("promote", "--to", "prod", "--apply", "--auto-approve", env=None)
    assert promoted.exit_code == 0, promoted.output
    ids = {env: multi.state(env)["resources"]["agent.support"]["id"] for env in ("staging", "prod")}
    _rename_support(multi)

    plan = multi.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    assert "agent.support -> agent.support-line (moved)" in plan.output
    # The number's applied `inboundAgent: support` moves with it: no change, no drift.
    assert "phone-number.main-line" not in plan.output
    assert "Plan: 0 to create, 0 to update, 0 to delete, 1 to move, 3 unchanged." in plan.output

    multi.app.journal.clear()
    result = multi.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert [e for e in multi.app.journal.entries if e.method != "GET"] == []
    staging = multi.state("staging")["resources"]
    assert staging["agent.support-line"]["id"] == ids["staging"]
    assert staging["agent.support-line"]["protect"] is True
    assert staging["phone-number.main-line"]["applied"]["inboundAgent"] == "support-line"
    assert multi.run("plan", "--detailed-exitcode").exit_code == 0

    multi.app.journal.clear()
    promoted = multi.run("promote", "--to", "prod", "--apply", "--auto-approve", env=None)
    assert promoted.exit_code == 0, promoted.output
    assert "agent.support -> agent.support-line (moved)" in promoted.output
    assert [e for e in multi.app.journal.entries if e.method != "GET"] == []
    prod = multi.state("prod")["resources"]
    assert prod["agent.support-line"]["id"] == ids["prod"]
    assert prod["phone-number.main-line"]["applied"]["inboundAgent"] == "support-line"
    assert multi.run("plan", "--detailed-exitcode", env="prod").exit_code == 0
    # Each workspace still has one support agent (same id), answering its number.
    for key, number, name in (
        (STAGING_KEY, STAGING_NUMBER, "Acme Support (staging)"),
        (PROD_KEY, PROD_NUMBER, "Acme Support"),
    ):
        agents = multi.agents(key)
        assert sum(1 for n in agents if n.startswith("Acme Support")) == 1
        assert agents[name]["agentId"] == ids["staging" if key == STAGING_KEY else "prod"]
        assert multi.phone_number(key, number)["inboundAgentId"] == agents[name]["agentId"]


def test_state_mv_rewrites_references_in_other_resources(multi: MultiEnv) -> None:
    assert multi.run("apply", "--auto-approve").exit_code == 0
    multi.edit("agents/support.yaml", "name: support", "name: support-line")
    multi.edit("numbers/main-line.yaml", "inboundAgent: support", "inboundAgent: support-line")
    moved = multi.run("state", "mv", "agent.support", "agent.support-line")
    assert moved.exit_code == 0, moved.output
    resources = multi.state("staging")["resources"]
    assert resources["phone-number.main-line"]["applied"]["inboundAgent"] == "support-line"
    multi.app.journal.clear()
    plan = multi.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output  # no false drift, nothing to send
    assert "Changed outside sigmaform" not in plan.output


def test_pending_move_is_not_drift(example: Project) -> None:
    applied(example)
    rename_receptionist(example)
    add_moved(example.root / "sigmaform.yaml", ("agent.receptionist", "agent.front-desk"))
    drift = example.run("drift")
    assert drift.exit_code == 0, drift.output
    assert "agent.front-desk" not in drift.output and "agent.receptionist" not in drift.output


def test_move_onto_an_address_already_in_state_is_an_error(example: Project) -> None:
    applied(example)
    text = (example.root / "agents/receptionist.yaml").read_text()
    (example.root / "agents/front-desk.yaml").write_text(
        text.replace("name: receptionist", "name: front-desk").replace(
            "Acme Receptionist", "Acme Front Desk"
        )
    )
    applied(example)
    add_moved(example.root / "sigmaform.yaml", ("agent.receptionist", "agent.front-desk"))
    journal = len(example.journal())
    result = example.run("plan")
    assert result.exit_code == 1
    assert (
        "moved: cannot move `agent.receptionist` to `agent.front-desk`: both are in state "
        "`local`; remove one with `sigmaform -C " + str(example.root) + " -e local state rm "
        "agent.front-desk` first"
    ) in result.output
    assert example.writes(journal) == []


def test_saved_plan_with_a_move_is_applied_exactly(example: Project) -> None:
    applied(example)
    rename_receptionist(example)
    add_moved(example.root / "sigmaform.yaml", ("agent.receptionist", "agent.front-desk"))
    plan_file = example.root / "plan.json"
    assert example.run("plan", "--out", str(plan_file)).exit_code == 0
    journal = len(example.journal())
    result = example.run("apply", str(plan_file))
    assert result.exit_code == 0, result.output
    assert example.writes(journal) == []
    assert "agent.front-desk" in example.state()["resources"]
    assert example.run("plan", "--detailed-exitcode").exit_code == 0
