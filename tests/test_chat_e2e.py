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


def test_chat_is_adopted_rebound_and_an_ended_chat_fails_clearly(example: Project) -> None:
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

    # An ended chat cannot be changed: the server's 409 is reported, named, exit 1.
    with example.api() as api:
        assert api.post(f"/v1/chats/{chat_id}/end").status_code == 200
    chats.write_text(CHAT.format(chat_id=chat_id, agent="receptionist"))
    failed = example.run("apply", "--auto-approve")
    assert failed.exit_code == 1
    assert f"chat.website-demo: PATCH /v1/chats/{chat_id} -> 409" in failed.output
    assert "Traceback" not in failed.output
