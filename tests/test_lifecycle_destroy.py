"""`plan --destroy` and `destroy` (issue 13, item 9) through the real CLI.

In process for the plan and the rails, over a loopback socket with a phone number (an
adopted object that is forgotten, not deleted), and once in a real terminal (a pty) for
the confirmation that must be typed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import Project
from multienv import PROD_KEY, PROD_NUMBER, STAGING_KEY, STAGING_NUMBER, MultiEnv, multi

__all__ = ["multi"]  # the fixture, imported for pytest

PROTECTED = "protect: true                     # a bad apply must never delete the agent"


def unprotected(project: Project | MultiEnv) -> None:
    """Turn protection off and apply it (state keeps protection until applied)."""
    project.edit("agents/support.yaml", PROTECTED, "protect: false  #")
    result = project.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output


def test_plan_destroy_shows_every_delete_and_changes_nothing(example: Project) -> None:
    unprotected(example)
    journal = len(example.journal())
    plan = example.run("plan", "--destroy", "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    assert "destroy: every managed resource is deleted or forgotten" in plan.output
    for name in ("appointment-reminder", "receptionist", "support"):
        assert f"  - agent.{name}  (delete, id " in plan.output
    assert "Plan: 0 to create, 0 to update, 3 to delete, 0 unchanged." in plan.output
    data = json.loads(example.run("plan", "--destroy", "--format", "json").output)
    assert data["destroy"] is True
    assert {r["action"] for r in data["resources"]} == {"delete"}
    assert data["summary"]["delete"] == 3
    # It reads each managed agent (as destroy does before asking), and writes nothing.
    read = example.journal()[journal:]
    assert {(e["method"], e["path"].rsplit("/", 1)[0]) for e in read} >= {("GET", "/v1/agents")}
    assert {e["method"] for e in read} == {"GET"}
    journal = len(example.journal())
    offline = example.run("plan", "--destroy", "--no-refresh", "--detailed-exitcode")
    assert offline.exit_code == 2, offline.output
    assert "Plan: 0 to create, 0 to update, 3 to delete, 0 unchanged." in offline.output
    assert example.journal()[journal:] == []  # --no-refresh: nothing is read
    assert len(example.agents()) == 3


def test_destroy_deletes_every_agent_and_empties_state(example: Project) -> None:
    unprotected(example)
    ids = {a["agentId"] for a in example.agents()}
    journal = len(example.journal())
    result = example.run("destroy", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "Destroy complete: 3 deleted." in result.output
    deletes = example.writes(journal)
    assert sorted(e["path"] for e in deletes) == sorted(f"/v1/agents/{i}" for i in ids)
    assert all(e["method"] == "DELETE" for e in deletes)
    assert example.agents() == []
    assert example.state()["resources"] == {}
    again = example.run("destroy", "--auto-approve")
    assert again.exit_code == 0 and "No changes." in again.output


def test_destroy_refuses_a_protected_resource_before_sending_anything(example: Project) -> None:
    result = example.run("apply", "--auto-approve")
    assert result.exit_code == 0
    journal = len(example.journal())
    plan = example.run("plan", "--destroy")
    assert "protected: destroy is refused while protect: true" in plan.output
    refused = example.run("destroy", "--auto-approve", "--force")
    assert refused.exit_code == 3, refused.output
    assert "refusing to delete protected resources: agent.support" in refused.output
    assert example.writes(journal) == []
    assert len(example.agents()) == 3


def test_destroy_without_a_terminal_needs_auto_approve(example: Project) -> None:
    unprotected(example)
    journal = len(example.journal())
    result = example.run("destroy")
    assert result.exit_code == 1
    assert "stdin is not a terminal: pass --auto-approve" in result.output
    assert example.journal()[journal:] == []


def test_saved_destroy_plan_is_applied_exactly(example: Project) -> None:
    unprotected(example)
    plan_file = example.root / "destroy.json"
    assert example.run("plan", "--destroy", "--out", str(plan_file)).exit_code == 0
    journal = len(example.journal())
    # Applied without a prompt, a destroy plan must be named as one by whoever runs it.
    unsaid = example.run("apply", str(plan_file))
    assert unsaid.exit_code == 3, unsaid.output
    assert f"{plan_file} is a destroy plan: it deletes every managed agent of `local`" in (
        unsaid.output
    )
    assert f"apply --destroy {plan_file}`. Nothing was sent." in unsaid.output
    assert example.journal()[journal:] == []
    assert len(example.agents()) == 3
    result = example.run("apply", "--destroy", str(plan_file))
    assert result.exit_code == 0, result.output
    assert "3 deleted" in result.output
    assert example.agents() == []


def test_apply_destroy_needs_a_saved_destroy_plan(example: Project) -> None:
    unprotected(example)
    journal = len(example.journal())
    bare = example.run("apply", "--destroy", "--auto-approve")
    assert bare.exit_code == 1
    assert "--destroy applies a saved destroy plan (PLANFILE); to destroy an environment, run" in (
        bare.output
    )
    plan_file = example.root / "update.json"
    example.edit("agents/receptionist.yaml", "Greet the caller warmly", "Greet the caller kindly")
    assert example.run("plan", "--out", str(plan_file)).exit_code == 0
    wrong = example.run("apply", "--destroy", str(plan_file))
    assert wrong.exit_code == 3
    assert f"--destroy was given, but {plan_file} is not a destroy plan" in wrong.output
    assert [e for e in example.journal()[journal:] if e["method"] != "GET"] == []
    assert len(example.agents()) == 3


def test_destroy_with_target_is_a_usage_error(example: Project) -> None:
    result = example.run("plan", "--destroy", "--target", "agent.support")
    assert result.exit_code == 1
    assert "--destroy plans every managed resource: it takes no --target" in result.output


def _in_terminal(project: Project, answer: str) -> tuple[int, str]:
    """Run `destroy` with a pty as stdin and type `answer`: (exit code, what it printed)."""
    leader, follower = os.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sigmaform", "-C", str(project.root), "-e", "local", "destroy"],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1"},
        )
        os.write(leader, answer.encode() + b"\n")
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(leader)
        os.close(follower)
    return proc.returncode, out.decode()


def test_destroy_asks_naming_the_environment_and_accepts_only_yes(example: Project) -> None:
    unprotected(example)
    journal = len(example.journal())
    code, out = _in_terminal(example, "y")
    assert code == 1, out  # declined: a script must not take it for success
    assert "Do you want to perform these actions in environment 'local'?" in out
    assert "Only 'yes' will be accepted to approve." in out
    assert "Destroy cancelled; nothing was changed." in out
    assert example.writes(journal) == [] and len(example.agents()) == 3
    code, out = _in_terminal(example, "yes")
    assert code == 0, out
    assert "Destroy complete: 3 deleted." in out
    assert example.agents() == []


def test_destroy_over_http_forgets_the_adopted_number(multi: MultiEnv) -> None:
    unprotected(multi)
    number_before = multi.phone_number(STAGING_KEY, STAGING_NUMBER)
    assert number_before["inboundAgentId"]
    plan = multi.run("plan", "--destroy")
    assert "  - phone-number.main-line  (forget: left remotely, removed from state" in plan.output
    assert "Plan: 0 to create, 0 to update, 3 to delete, 1 to forget, 0 unchanged." in plan.output
    lines = plan.output.splitlines()
    number_line = next(i for i, t in enumerate(lines) if "phone-number.main-line" in t)
    agent_line = next(i for i, t in enumerate(lines) if "agent.support" in t)
    assert number_line < agent_line  # what references an agent goes first

    multi.app.journal.clear()
    result = multi.run("destroy", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "Destroy complete: 3 deleted, 1 forgotten." in result.output
    sent = [(e.method, e.path) for e in multi.app.journal.entries if e.method != "GET"]
    assert len(sent) == 3 and all(m == "DELETE" for m, _ in sent)
    assert not any("phone-numbers" in p for _, p in sent)
    assert multi.agents(STAGING_KEY) == {}
    assert multi.state("staging")["resources"] == {}
    # Left remotely: the number itself is not sigmaform's to delete.
    assert multi.phone_number(STAGING_KEY, STAGING_NUMBER)["sipPhoneNumber"] == STAGING_NUMBER


def test_destroy_respects_allow_delete_false_unless_forced(multi: MultiEnv) -> None:
    unprotected(multi)
    promoted = multi.run("promote", "--to", "prod", "--apply", "--auto-approve", env=None)
    assert promoted.exit_code == 0, promoted.output
    multi.app.journal.clear()
    refused = multi.run("destroy", "--auto-approve", env="prod")
    assert refused.exit_code == 3, refused.output
    assert "environment `prod` has safety.allowDelete: false" in refused.output
    assert [e for e in multi.app.journal.entries if e.method != "GET"] == []
    forced = multi.run("destroy", "--auto-approve", "--force", env="prod")
    assert forced.exit_code == 0, forced.output
    assert multi.agents(PROD_KEY) == {}
    assert multi.phone_number(PROD_KEY, PROD_NUMBER)["sipPhoneNumber"] == PROD_NUMBER
    assert len(multi.agents(STAGING_KEY)) == 3  # staging is another environment
