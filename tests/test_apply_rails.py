"""Safety rails and partial failure, through the real CLI against the embedded emulator."""

from __future__ import annotations

from pathlib import Path

from conftest import Project

PROJECT = """\
version: 1
resources: ["agents/*.yaml"]
environments:
  local:
    baseUrl: "local:.sigmaform/emulator"
    safety: {{maxChangePercent: {percent}}}
"""


def agent_yaml(name: str, temperature: float = 0.3) -> str:
    return (
        f"kind: Agent\nname: {name}\nspec:\n  agentName: Bot {name}\n"
        f"  instructions: Help with {name}.\n"
        f"  agentSettings: {{llmModel: gpt-4o-mini, llmTemperature: {temperature}}}\n"
    )


def make(tmp_path: Path, count: int, percent: int = 30) -> Project:
    root = tmp_path / "p"
    (root / "agents").mkdir(parents=True)
    (root / "sigmaform.yaml").write_text(PROJECT.format(percent=percent))
    for i in range(count):
        (root / "agents" / f"a{i}.yaml").write_text(agent_yaml(f"a{i}"))
    return Project(root)


def test_max_change_percent_refuses_then_force_applies(tmp_path: Path) -> None:
    project = make(tmp_path, 10)
    assert project.run("apply", "--auto-approve").exit_code == 0
    for i in range(4):
        (project.root / "agents" / f"a{i}.yaml").write_text(agent_yaml(f"a{i}", 0.9))
    before = len(project.journal())
    refused = project.run("apply", "--auto-approve")
    assert refused.exit_code == 3
    assert "4 of 10 managed resources would change (40%)" in refused.output
    assert project.writes(before) == []
    forced = project.run("apply", "--auto-approve", "--force")
    assert forced.exit_code == 0, forced.output
    assert len([w for w in project.writes(before) if w["method"] == "PATCH"]) == 4


def test_threshold_ignored_below_ten_resources(tmp_path: Path) -> None:
    project = make(tmp_path, 3, percent=10)
    assert project.run("apply", "--auto-approve").exit_code == 0
    (project.root / "agents" / "a0.yaml").write_text(agent_yaml("a0", 0.9))
    assert project.run("apply", "--auto-approve").exit_code == 0


def test_deleting_everything_is_always_refused(tmp_path: Path) -> None:
    project = make(tmp_path, 2)
    assert project.run("apply", "--auto-approve").exit_code == 0
    for path in (project.root / "agents").iterdir():
        path.unlink()
    refused = project.run("apply", "--auto-approve", "--allow-delete", "--force")
    assert refused.exit_code == 3
    assert "refusing to delete every managed resource" in refused.output
    assert len(project.agents()) == 2


def test_allow_delete_false_environment_needs_force(tmp_path: Path) -> None:
    project = make(tmp_path, 2)
    config = project.root / "sigmaform.yaml"
    config.write_text(config.read_text().replace("maxChangePercent: 30", "allowDelete: false"))
    assert project.run("apply", "--auto-approve").exit_code == 0
    (project.root / "agents" / "a1.yaml").unlink()
    refused = project.run("apply", "--auto-approve", "--allow-delete")
    assert refused.exit_code == 3 and "allowDelete: false" in refused.output
    done = project.run("apply", "--auto-approve", "--allow-delete", "--force")
    assert done.exit_code == 0 and "agent.a1: deleted" in done.output


def test_a_number_missing_remotely_fails_the_plan_before_any_write(tmp_path: Path) -> None:
    project = make(tmp_path, 2)
    (project.root / "agents" / "line.yaml").write_text(
        "kind: PhoneNumber\nname: line\nspec:\n  phoneNumber: '+14155550199'\n  inboundAgent: a0\n"
    )
    for command in (("plan",), ("apply", "--auto-approve")):
        result = project.run(*command)
        assert result.exit_code == 1
        assert (
            "agents/line.yaml:1:1: spec.phoneNumber: phone-number.line: PhoneNumber "
            "+14155550199 does not exist in this workspace" in result.output
        )
        assert "Traceback" not in result.output
    assert project.writes() == []
    assert project.agents() == []
    # Once the number exists, the next apply converges with no duplicate agents.
    with project.api() as api:
        api.post("/v1/phone-numbers/import", json={"phoneNumber": "+14155550199"})
    again = project.run("apply", "--auto-approve")
    assert again.exit_code == 0, again.output
    assert "phone-number.line: adopted" in again.output
    with project.api() as api:
        numbers = api.get("/v1/phone-numbers").json()["data"]
    a0 = project.state()["resources"]["agent.a0"]["id"]
    assert [n["inboundAgentId"] for n in numbers] == [a0]


def test_one_failure_keeps_the_others_state_and_exits_1(tmp_path: Path) -> None:
    project = make(tmp_path, 2)
    with project.api() as api:
        helper = api.post("/v1/agents", json={"agentName": "Helper"}).json()
        made = api.post("/v1/chats", json={"agentId": helper["agentId"], "input": "Hi"})
    chat_id = made.json()["chatId"]
    (project.root / "agents" / "chat.yaml").write_text(
        f"kind: Chat\nname: demo\nspec:\n  chatId: {chat_id}\n  agent: a0\n"
    )
    # Without refresh the saved plan is recomputed from state and files alone, so it still
    # authorises the apply after the chat ends (a refreshed one would be refused: exit 3).
    planned = project.run("plan", "--no-refresh", "--out", str(project.root / "p.json"))
    assert planned.exit_code == 0, planned.output
    # The chat ends between plan and apply: its PATCH fails, the agents still go ahead.
    with project.api() as api:
        assert api.post(f"/v1/chats/{chat_id}/end").status_code == 200
    result = project.run("apply", str(project.root / "p.json"))
    assert result.exit_code == 1
    assert f"chat.demo: PATCH /v1/chats/{chat_id} -> 409" in result.output
    assert "Apply finished with errors" in result.output
    assert sorted(project.state()["resources"]) == ["agent.a0", "agent.a1"]
    # The next plan reports the ended chat and leaves it alone.
    again = project.run("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "chat.demo: the chat session's status is 'ended'" in again.output
    assert sorted(a["agentName"] for a in project.agents()) == ["Bot a0", "Bot a1", "Helper"]


def test_target_limits_apply(tmp_path: Path) -> None:
    project = make(tmp_path, 3)
    result = project.run("apply", "--auto-approve", "--target", "Agent.a1")
    assert result.exit_code == 0
    assert sorted(project.state()["resources"]) == ["agent.a1"]
    bad = project.run("plan", "--target", "nonsense")
    assert bad.exit_code == 1 and "expected KIND.NAME" in bad.output


def test_plan_file_cannot_be_combined_with_target(tmp_path: Path) -> None:
    project = make(tmp_path, 1)
    plan = project.root / "plan.json"
    assert project.run("plan", "--out", str(plan)).exit_code == 0
    result = project.run("apply", str(plan), "--target", "agent.a0")
    assert result.exit_code == 1 and "cannot be combined" in result.output
    missing = project.run("apply", str(project.root / "nope.json"))
    assert missing.exit_code == 1 and "plan file not found" in missing.output
    (project.root / "bad.json").write_text("{}")
    damaged = project.run("apply", str(project.root / "bad.json"))
    assert damaged.exit_code == 1 and "not a sigmaform plan file" in damaged.output
