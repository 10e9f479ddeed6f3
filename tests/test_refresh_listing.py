"""Refresh of many agents reads the paginated listing, not one GET per agent."""

from __future__ import annotations

from pathlib import Path

from conftest import Project

from sigmaform.operations import LIST_REFRESH_MIN

PROJECT = """\
version: 1
resources: ["agents/*.yaml"]
environments:
  local: {baseUrl: "local:.sigmaform/emulator"}
"""


def make(tmp_path: Path, count: int) -> Project:
    root = tmp_path / "p"
    (root / "agents").mkdir(parents=True)
    (root / "sigmaform.yaml").write_text(PROJECT)
    for i in range(count):
        (root / "agents" / f"a{i}.yaml").write_text(
            f"kind: Agent\nname: a{i}\nspec:\n  agentName: Bot {i}\n  instructions: Help.\n"
            f"  agentSettings: {{llmTemperature: 0.3}}\n"
        )
    return Project(root)


def test_many_agents_refresh_from_the_listing_and_drift_is_still_seen(tmp_path: Path) -> None:
    count = LIST_REFRESH_MIN + 10
    project = make(tmp_path, count)
    assert project.run("apply", "--auto-approve", "--parallelism", "16").exit_code == 0
    ids = {a: r["id"] for a, r in project.state()["resources"].items()}
    with project.api() as api:
        api.patch(f"/v1/agents/{ids['agent.a7']}", json={"instructions": "Edited."})
        assert api.delete(f"/v1/agents/{ids['agent.a9']}").status_code == 204
    before = len(project.journal())
    result = project.run("plan")
    assert result.exit_code == 0, result.output
    reads = project.journal()[before:]
    assert all(e["method"] == "GET" for e in reads)
    listing = [e for e in reads if e["path"] == "/v1/agents"]
    alone = [e for e in reads if e["path"].startswith("/v1/agents/")]
    assert 1 <= len(listing) <= 2  # 60 agents: one page of 100
    # Only the agent missing from the listing is read on its own (and found gone).
    assert [e["path"] for e in alone] == [f"/v1/agents/{ids['agent.a9']}"]
    assert "instructions" in result.output and "Edited." in result.output
    assert "agent.a9" in result.output and "deleted outside sigmaform" in result.output
    assert "Plan: 1 to create, 1 to update, 0 to delete" in result.output
    assert project.run("apply", "--auto-approve").exit_code == 0
    assert project.run("plan", "--detailed-exitcode").exit_code == 0
    assert len(project.agents()) == count


def test_few_agents_are_read_one_by_one(tmp_path: Path) -> None:
    project = make(tmp_path, 3)
    assert project.run("apply", "--auto-approve").exit_code == 0
    before = len(project.journal())
    assert project.run("plan", "--detailed-exitcode").exit_code == 0
    paths = [e["path"] for e in project.journal()[before:]]
    # The listing checks for possible duplicates; the agents are read one by one.
    assert paths.count("/v1/agents") == 1
    assert len(paths) == 4 and sum(p.startswith("/v1/agents/") for p in paths) == 3
