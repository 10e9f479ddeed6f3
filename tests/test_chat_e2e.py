"""A Chat resource through the real CLI: adopt a live chat, rebind it, and the ended case."""

from __future__ import annotations

from conftest import Project

CHAT = """\
kind: Chat
name: website-demo
spec:
  chatId: {chat_id}
  agent: {agent}
  dynamicVariables: {{customer_name: Michael}}
"""


def test_chat_is_adopted_rebound_and_an_ended_chat_is_left_alone(example: Project) -> None:
    assert example.run("apply", "--auto-approve").exit_code == 0
    ids = {a: r["id"] for a, r in example.state()["resources"].items()}
    with example.api() as api:
        made = api.post("/v1/chats", json={"agentId": ids["agent.receptionist"], "input": "Hello"})
        assert made.status_code == 201, made.text
    chat_id = made.json()["chatId"]
    chats = example.root / "agents" / "chats.yaml"
    chats.write_text(CHAT.format(chat_id=chat_id, agent="support"))

    plan = example.run("plan")
    assert "chat.website-demo  (adopt)" in plan.output
    before = len(example.journal())
    assert example.run("apply", "--auto-approve").exit_code == 0
    (patch,) = example.writes(before)
    assert patch["method"] == "PATCH" and patch["path"] == f"/v1/chats/{chat_id}"
    assert patch["body"] == {
        "agentId": ids["agent.support"],
        "dynamicVariables": {"customer_name": "Michael"},
    }
    assert example.run("plan", "--detailed-exitcode").exit_code == 0

    # Only the changed field is sent next time.
    chats.write_text(CHAT.format(chat_id=chat_id, agent="support").replace("Michael", "Ann"))
    before = len(example.journal())
    assert example.run("apply", "--auto-approve").exit_code == 0
    (patch,) = example.writes(before)
    assert patch["body"] == {"dynamicVariables": {"customer_name": "Ann"}}

    # An ended chat cannot be changed: the plan says so and apply sends nothing for it.
    with example.api() as api:
        assert api.post(f"/v1/chats/{chat_id}/end").status_code == 200
    chats.write_text(CHAT.format(chat_id=chat_id, agent="receptionist"))
    plan = example.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    assert "Left alone:\n    chat.website-demo: the chat session's status is 'ended'" in plan.output
    assert "Remote matches the configuration" not in plan.output
    assert "The resources left alone still differ from the configuration." in plan.output
    markdown = example.run("plan", "--format", "markdown")
    assert "Remote matches the configuration" not in markdown.output
    assert "left alone still differ" in markdown.output
    before = len(example.journal())
    done = example.run("apply", "--auto-approve")
    assert done.exit_code == 0, done.output
    assert example.writes(before) == []
    with example.api() as api:
        held = api.get(f"/v1/chats/{chat_id}").json()
    assert held["agent"]["agentId"] == ids["agent.support"]
