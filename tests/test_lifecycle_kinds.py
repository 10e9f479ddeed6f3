"""Rename with `moved:` and destroy for every kind (Agent, PhoneNumber, Chat), end to end.

In process and over a loopback socket: after each step `plan --detailed-exitcode` exits 0
and the workspace never holds two agents of one `agentName`.
"""

from __future__ import annotations

from collections import Counter

from conftest import Project
from served import served

from sigmaform.emulator import EmulatorApp

__all__ = ["served"]  # the fixture, imported for pytest

NUMBER = "+14155550199"
RESOURCES = """\
kind: PhoneNumber
name: {number_name}
spec:
  phoneNumber: "{number}"
  friendlyName: Front desk line
  inboundAgent: {agent}
  outboundAgent: null
---
kind: Chat
name: {chat_name}
spec:
  chatId: {chat_id}
  agent: {agent}
  dynamicVariables: {{customer_name: Michael}}
"""


def clean(project: Project) -> None:
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    names = Counter(a["agentName"] for a in project.agents())
    assert all(n == 1 for n in names.values()), names


def test_every_kind_is_renamed_with_moved_then_destroyed(served: Project) -> None:
    served.edit("agents/support.yaml", "protect: true ", "protect: false")
    EmulatorApp(data_dir=served.emulator_dir).seed_phone_number("local", NUMBER, "seeded")
    assert served.run("apply", "--auto-approve").exit_code == 0
    receptionist = served.state()["resources"]["agent.receptionist"]["id"]
    with served.api() as api:
        made = api.post("/v1/chats", json={"agentId": receptionist, "input": "Hello"})
        assert made.status_code == 201, made.text
    chat_id = made.json()["chatId"]
    extra = served.root / "agents" / "lines.yaml"
    fields = {"number": NUMBER, "chat_id": chat_id, "agent": "receptionist"}
    extra.write_text(RESOURCES.format(number_name="line", chat_name="demo", **fields))
    adopted = served.run("apply", "--auto-approve")
    assert adopted.exit_code == 0, adopted.output
    assert "2 adopted" in adopted.output
    clean(served)

    # Rename all three kinds in one change; references follow the renamed agent.
    served.edit("agents/receptionist.yaml", "name: receptionist", "name: front-desk")
    fields["agent"] = "front-desk"
    extra.write_text(RESOURCES.format(number_name="front-line", chat_name="web", **fields))
    moved = "\n".join(
        [
            "moved:",
            "  - {from: agent.receptionist, to: agent.front-desk}",
            "  - {from: phone-number.line, to: phone-number.front-line}",
            "  - {from: chat.demo, to: chat.web}",
        ]
    )
    project_file = served.root / "sigmaform.yaml"
    project_file.write_text(project_file.read_text() + moved + "\n")
    plan = served.run("plan")
    for old, new in (
        ("agent.receptionist", "agent.front-desk"),
        ("phone-number.line", "phone-number.front-line"),
        ("chat.demo", "chat.web"),
    ):
        assert f"{old} -> {new} (moved)" in plan.output
    assert "Plan: 0 to create, 0 to update, 0 to delete, 3 to move, 2 unchanged." in plan.output
    journal = len(served.journal())
    result = served.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert served.writes(journal) == []
    state = served.state()["resources"]
    assert state["phone-number.front-line"]["applied"]["inboundAgent"] == "front-desk"
    assert state["chat.web"]["applied"]["agent"] == "front-desk"
    clean(served)

    destroyed = served.run("destroy", "--auto-approve")
    assert destroyed.exit_code == 0, destroyed.output
    assert "Destroy complete: 3 deleted, 2 forgotten." in destroyed.output
    assert served.agents() == []
    assert served.state()["resources"] == {}
    with served.api() as api:  # adopted objects are left where they were
        assert api.get(f"/v1/phone-numbers/{NUMBER}").status_code == 200
        assert api.get(f"/v1/chats/{chat_id}").status_code == 200


def test_adopting_leaves_ignored_paths_as_they_are(example: Project) -> None:
    EmulatorApp(data_dir=example.emulator_dir).seed_phone_number("local", NUMBER, "seeded")
    (example.root / "agents" / "line.yaml").write_text(
        "kind: PhoneNumber\nname: line\nignoreChanges: [friendlyName]\nspec:\n"
        f'  phoneNumber: "{NUMBER}"\n  friendlyName: Front desk line\n  inboundAgent: support\n'
    )
    plan = example.run("plan")
    assert "friendlyName" not in plan.output
    journal = len(example.journal())
    assert example.run("apply", "--auto-approve").exit_code == 0
    (patch,) = [w for w in example.writes(journal) if "phone-numbers" in w["path"]]
    assert "friendlyName" not in patch["body"] and "inboundAgentId" in patch["body"]
    with example.api() as api:
        assert api.get(f"/v1/phone-numbers/{NUMBER}").json()["friendlyName"] == "seeded"
    clean(example)
