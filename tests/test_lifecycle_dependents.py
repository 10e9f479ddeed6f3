"""Dependents follow a re-created agent, adoption shows what it changes, targets and counts.

Through the real CLI against the emulator: in process (`local:`) and over a loopback
socket (the `multi` fixture: staging and prod are two workspaces of one emulator).
"""

from __future__ import annotations

import json
from typing import Any

from conftest import Project
from multienv import STAGING_KEY, STAGING_NUMBER, MultiEnv, multi  # noqa: F401  (fixture)

LOCAL_NUMBER = "+14155550177"
NUMBER_YAML = f"""\
kind: PhoneNumber
name: local-line
spec:
  phoneNumber: "{LOCAL_NUMBER}"
  friendlyName: Local line
  inboundAgent: support
"""
CHAT_YAML = """\
kind: Chat
name: web
spec:
  chatId: {chat_id}
  agent: support
"""


def with_local_number(example: Project) -> None:
    """The examples project plus a number that exists in the local workspace ("seeded")."""
    (example.root / "numbers" / "local-line.yaml").write_text(NUMBER_YAML)
    with example.api() as api:
        seeded = api.post(
            "/v1/phone-numbers/import",
            json={"phoneNumber": LOCAL_NUMBER, "friendlyName": "seeded"},
        )
        assert seeded.status_code == 200, seeded.text


def local_number(example: Project) -> dict[str, Any]:
    with example.api() as api:
        return dict(api.get(f"/v1/phone-numbers/{LOCAL_NUMBER}").json())


def test_adoption_shows_current_values_and_a_docs_shaped_number_verifies(
    example: Project,
) -> None:
    with_local_number(example)
    plan = example.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 2
    assert "+ phone-number.local-line  (adopt)" in plan.output
    assert 'friendlyName: "seeded" -> "Local line"' in plan.output
    assert 'inboundAgent: null -> "support"  (known after apply)' in plan.output
    assert f'phoneNumber: "{LOCAL_NUMBER}" (unchanged)' in plan.output
    assert "Plan: 3 to create, 1 to adopt, 0 to update, 0 to delete, 0 unchanged." in plan.output
    data = json.loads(example.run("plan", "--format", "json").stdout)
    (rp,) = [r for r in data["resources"] if r["address"] == "phone-number.local-line"]
    assert (rp["action"], rp["effect"]) == ("create", "adopt")
    by_path = {c["path"]: c for c in rp["changes"]}
    assert (by_path["friendlyName"]["before"], by_path["friendlyName"]["after"]) == (
        "seeded",
        "Local line",
    )
    assert (data["summary"]["create"], data["summary"]["adopt"]) == (3, 1)

    # The server answers `sipPhoneNumber` only (as the docs show): apply still verifies.
    assert "phoneNumber" not in local_number(example)
    before = len(example.journal())
    done = example.run("apply", "--auto-approve")
    assert done.exit_code == 0, done.output
    assert "phone-number.local-line: adopted" in done.output
    (patch,) = [w for w in example.writes(before) if w["path"].startswith("/v1/phone-numbers")]
    support = example.state()["resources"]["agent.support"]["id"]
    assert patch["body"]["inboundAgentId"] == support
    held = local_number(example)
    assert (held["friendlyName"], held["inboundAgentId"]) == ("Local line", support)
    assert example.run("plan", "--detailed-exitcode").exit_code == 0


def test_adoption_over_a_socket_shows_the_live_routing(multi: MultiEnv) -> None:  # noqa: F811
    plan = multi.run("plan")
    assert plan.exit_code == 0, plan.output
    assert 'friendlyName: "staging test line" -> "Acme main line"' in plan.output
    assert 'inboundAgent: null -> "support"  (known after apply)' in plan.output
    # A number the workspace does not have fails the plan, naming it, before any write.
    multi.edit("numbers/main-line.yaml", '"+14155550124"', '"+14155550198"')
    multi.app.journal.clear()
    missing = multi.run("apply", "--auto-approve")
    assert missing.exit_code == 1
    assert (
        "numbers/main-line.yaml:5:1: spec.phoneNumber: phone-number.main-line: PhoneNumber "
        "+14155550198 does not exist in this workspace" in missing.output
    )
    assert {e.method for e in multi.app.journal.entries} == {"GET"}
    assert multi.agents(STAGING_KEY) == {}


def test_dependents_of_a_re_created_agent_follow_in_the_same_apply(example: Project) -> None:
    with_local_number(example)
    assert example.run("apply", "--auto-approve").exit_code == 0
    old = example.state()["resources"]["agent.support"]["id"]
    with example.api() as api:
        chat = api.post("/v1/chats", json={"agentId": old, "input": "Hello"}).json()["chatId"]
    (example.root / "agents" / "chat.yaml").write_text(CHAT_YAML.format(chat_id=chat))
    assert example.run("apply", "--auto-approve").exit_code == 0
    with example.api() as api:
        assert api.delete(f"/v1/agents/{old}").status_code == 204

    plan = example.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 2
    assert "+ agent.support  (create)" in plan.output
    assert f"~ phone-number.local-line  (update, id {LOCAL_NUMBER})" in plan.output
    assert f"~ chat.web  (update, id {chat})" in plan.output
    assert 'inboundAgent: "support" -> "support"  (known after apply)' in plan.output
    assert 'agent: "support" -> "support"  (known after apply)' in plan.output
    assert "note: agent.support gets a new id: inboundAgent is sent again with it" in plan.output
    assert "Plan: 1 to create, 2 to update, 0 to delete, 2 unchanged." in plan.output
    data = json.loads(example.run("plan", "--format", "json").stdout)
    follow = {r["address"]: r for r in data["resources"] if r["action"] == "update"}
    assert [c["path"] for c in follow["phone-number.local-line"]["changes"]] == ["inboundAgent"]
    assert [c["path"] for c in follow["chat.web"]["changes"]] == ["agent"]

    before = len(example.journal())
    done = example.run("apply", "--auto-approve")
    assert done.exit_code == 0, done.output
    new = example.state()["resources"]["agent.support"]["id"]
    writes = example.writes(before)
    # The agent first, then both dependents (one dependency level, in either order).
    assert (writes[0]["method"], writes[0]["path"]) == ("POST", "/v1/agents")
    assert sorted((w["method"], w["path"]) for w in writes[1:]) == [
        ("PATCH", f"/v1/chats/{chat}"),
        ("PATCH", f"/v1/phone-numbers/{LOCAL_NUMBER}"),
    ]
    bodies = {w["path"]: w["body"] for w in writes[1:]}
    assert bodies == {
        f"/v1/phone-numbers/{LOCAL_NUMBER}": {"inboundAgentId": new},
        f"/v1/chats/{chat}": {"agentId": new},
    }
    assert local_number(example)["inboundAgentId"] == new
    with example.api() as api:
        assert api.get(f"/v1/chats/{chat}").json()["agent"]["agentId"] == new
    assert example.run("plan", "--detailed-exitcode").exit_code == 0


def test_dependents_follow_over_a_socket(multi: MultiEnv) -> None:  # noqa: F811
    assert multi.run("apply", "--auto-approve").exit_code == 0
    old = multi.state("staging")["resources"]["agent.support"]["id"]
    with multi.api(STAGING_KEY) as api:
        assert api.delete(f"/v1/agents/{old}").status_code == 204
    plan = multi.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 2
    assert f"~ phone-number.main-line  (update, id {STAGING_NUMBER})" in plan.output
    multi.app.journal.clear()
    assert multi.run("apply", "--auto-approve").exit_code == 0
    writes = [e for e in multi.app.journal.entries if e.method != "GET"]
    assert [(e.method, e.path) for e in writes] == [
        ("POST", "/v1/agents"),
        ("PATCH", f"/v1/phone-numbers/{STAGING_NUMBER}"),
    ]
    new = multi.state("staging")["resources"]["agent.support"]["id"]
    assert writes[1].body == {"inboundAgentId": new}
    assert multi.phone_number(STAGING_KEY, STAGING_NUMBER)["inboundAgentId"] == new
    assert multi.run("plan", "--detailed-exitcode").exit_code == 0


def test_target_that_matches_nothing_names_the_closest(example: Project) -> None:
    for args in (("plan", "--target", "agent.suport"), ("apply", "--target", "Agent.supprt")):
        result = example.run(*args, "--auto-approve") if args[0] == "apply" else example.run(*args)
        assert result.exit_code == 1
        assert "no such resource in the files or in state; did you mean agent.support" in (
            result.output
        )
    assert example.journal() == []


def test_target_takes_in_what_it_references_over_a_socket(multi: MultiEnv) -> None:  # noqa: F811
    nothing = multi.run("plan", "--target", "PhoneNumber.main-lin")
    assert nothing.exit_code == 1
    assert "did you mean phone-number.main-line?" in nothing.output

    plan = multi.run("plan", "--target", "PhoneNumber.main-line")
    assert plan.exit_code == 0, plan.output
    assert "+ agent.support  (create)" in plan.output
    assert (
        "note: included by --target phone-number.main-line, which references it (inboundAgent)"
        in plan.output
    )
    assert "agent.receptionist" not in plan.output
    assert "Plan: 1 to create, 1 to adopt, 0 to update, 0 to delete, 0 unchanged." in plan.output
    as_json = multi.run("plan", "--target", "PhoneNumber.main-line", "--format", "json")
    data = json.loads(as_json.stdout)
    assert data["targets"] == ["phone-number.main-line"]
    assert sorted(r["address"] for r in data["resources"]) == [
        "agent.support",
        "phone-number.main-line",
    ]
    multi.app.journal.clear()
    done = multi.run("apply", "--auto-approve", "--target", "PhoneNumber.main-line")
    assert done.exit_code == 0, done.output
    writes = [(e.method, e.path) for e in multi.app.journal.entries if e.method != "GET"]
    assert writes == [("POST", "/v1/agents"), ("PATCH", f"/v1/phone-numbers/{STAGING_NUMBER}")]
    assert list(multi.agents(STAGING_KEY)) == ["Acme Support (staging)"]


def test_counts_skipped_delete_and_a_saved_plan_with_allow_delete(example: Project) -> None:
    assert example.run("apply", "--auto-approve").exit_code == 0
    (example.root / "agents" / "receptionist.yaml").unlink()
    plan = example.run("plan")
    assert "- agent.receptionist  (delete skipped: needs --allow-delete" in plan.output
    assert "Plan: 0 to create, 0 to update, 0 to delete, 1 skipped, 2 unchanged." in plan.output
    data = json.loads(example.run("plan", "--format", "json").stdout)
    assert data["allowDelete"] is False
    assert (data["summary"]["delete"], data["summary"]["skipped"]) == (0, 1)
    saved = example.root / "delete.json"
    planned = example.run("plan", "--allow-delete", "--out", str(saved))
    assert "Plan: 0 to create, 0 to update, 1 to delete, 2 unchanged." in planned.output
    markdown = example.run("plan", "--allow-delete", "--format", "markdown").stdout
    assert "**Plan: 0 to create, 0 to update, 1 to delete, 2 unchanged.**" in markdown
    # The saved plan shows a delete, so applying it exactly deletes.
    before = len(example.journal())
    done = example.run("apply", str(saved))
    assert done.exit_code == 0, done.output
    (delete,) = example.writes(before)
    assert delete["method"] == "DELETE"
    assert len(example.agents()) == 2
    assert example.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_chat_that_does_not_exist_fails_the_plan_naming_it(example: Project) -> None:
    (example.root / "agents" / "chat.yaml").write_text(CHAT_YAML.format(chat_id="chat_gone"))
    for args in (("plan",), ("apply", "--auto-approve")):
        result = example.run(*args)
        assert result.exit_code == 1
        assert (
            "agents/chat.yaml:1:1: spec.chatId: chat.web: Chat chat_gone does not exist in "
            "this workspace, and sigmaform cannot create one" in result.output
        )
    assert example.writes() == []
