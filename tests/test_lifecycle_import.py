"""Import belongs to its environment (issue 13, item 8): `only:`, `--list`, `--dry-run`."""

from __future__ import annotations

import json
from typing import Any

from conftest import Project
from multienv import PROD_KEY, STAGING_KEY, MultiEnv, multi

__all__ = ["multi"]  # the fixture, imported for pytest

BODY = {
    "agentName": "Billing Desk",
    "instructions": "Help with invoices.",
    "welcomeMessageType": "static",
    "welcomeMessage": "Billing, how can I help?",
    "agentSettings": {"llmModel": "gpt-4o-mini"},
}


def create_remote(api: Any, body: dict[str, Any] = BODY) -> str:
    made = api.post("/v1/agents", json=body)
    assert made.status_code == 201, made.text
    return str(made.json()["agentId"])


def test_import_writes_only_its_environment_so_promote_does_not_copy_it(
    multi: MultiEnv,
) -> None:
    assert multi.run("apply", "--auto-approve").exit_code == 0
    with multi.api(STAGING_KEY) as api:
        agent_id = create_remote(api)
    result = multi.run("import", agent_id, "--name", "billing")
    assert result.exit_code == 0, result.output
    text = (multi.root / "agents" / "billing.yaml").read_text()
    assert "\nonly:\n  - staging\n" in text
    assert multi.run("plan", "--detailed-exitcode").exit_code == 0

    multi.app.journal.clear()
    promoted = multi.run("promote", "--to", "prod", "--apply", "--auto-approve", env=None)
    assert promoted.exit_code == 0, promoted.output
    assert "agent.billing" not in promoted.output
    assert "Billing Desk" not in multi.agents(PROD_KEY)
    assert "agent.billing" not in multi.state("prod")["resources"]
    creates = [e for e in multi.app.journal.entries if e.method == "POST"]
    assert all(e.body.get("agentName") != "Billing Desk" for e in creates)


def test_import_all_environments_writes_no_only(example: Project) -> None:
    with example.api() as api:
        agent_id = create_remote(api)
    result = example.run("import", agent_id, "--name", "billing", "--all-environments")
    assert result.exit_code == 0, result.output
    text = (example.root / "agents" / "billing.yaml").read_text()
    assert "only:" not in text


def test_import_list_shows_which_agents_are_managed_and_where(example: Project) -> None:
    assert example.run("apply", "--auto-approve").exit_code == 0
    with example.api() as api:
        agent_id = create_remote(api)
    support = example.state()["resources"]["agent.support"]["id"]
    journal = len(example.journal())
    result = example.run("import", "--list")
    assert result.exit_code == 0, result.output
    assert f"{support}\tAcme Support (local)\tmanaged as agent.support" in result.output
    assert f"{agent_id}\tBilling Desk\tnot managed" in result.output
    assert "4 agents: 3 managed, 1 not managed." in result.output
    assert example.writes(journal) == []
    misuse = example.run("import", "--list", "--all")
    assert misuse.exit_code == 1
    assert "--list takes no agent ids and no other import option" in misuse.output


def test_import_all_dry_run_shows_files_and_state_and_writes_nothing(example: Project) -> None:
    assert example.run("apply", "--auto-approve").exit_code == 0
    with example.api() as api:
        agent_id = create_remote(api)
    state_before = (example.root / ".sigmaform/state/local.json").read_text()
    files_before = sorted(p for p in example.root.rglob("*") if ".sigmaform" not in p.parts)
    journal = len(example.journal())

    result = example.run("import", "--all", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Would write agents/billing-desk.yaml:" in result.output
    assert "    kind: Agent\n    name: billing-desk\n" in result.output
    assert "    only:\n      - local\n" in result.output
    assert f"Would record agent.billing-desk (id {agent_id}) in state " in result.output
    assert "Dry run: nothing was written." in result.output
    assert (example.root / ".sigmaform/state/local.json").read_text() == state_before
    assert sorted(p for p in example.root.rglob("*") if ".sigmaform" not in p.parts) == (
        files_before
    )
    assert example.writes(journal) == []
    listed = json.loads(example.run("state", "list", "--format", "json").output)
    assert "agent.billing-desk" not in {r["address"] for r in listed["resources"]}
