"""Removing, ignoring and restoring fields (issue 13, items 5 and 6), through the real CLI.

Each end-to-end case runs against the emulator in process and over a loopback socket.
"""

from __future__ import annotations

import json
from typing import Any

from conftest import Project
from served import served

__all__ = ["served"]  # the fixture, imported for pytest

SUPPORT = "agents/support.yaml"
WEBHOOKS = """    webhooks:
      - name: support-events
        url: "${var.webhook_base}/sigmamind/support"
        secret: "${secret.SUPPORT_WEBHOOK_SECRET}"
        events: [conversation_started, conversation_ended]
"""
SECRET = "local-only-support-secret"


def applied(project: Project) -> Any:
    result = project.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    return result


def agent(project: Project, prefix: str) -> dict[str, Any]:
    return next(a for a in project.agents() if a["agentName"].startswith(prefix))


def patch_remote(project: Project, agent_id: str, body: dict[str, Any]) -> None:
    """A change made in the dashboard: another API client, not sigmaform."""
    with project.api() as api:
        assert api.patch(f"/v1/agents/{agent_id}", json=body).status_code == 200


def test_removed_webhooks_block_is_removed_remotely(served: Project) -> None:
    applied(served)
    assert agent(served, "Acme Support")["agentSettings"]["webhooks"]
    served.edit(SUPPORT, WEBHOOKS, "")

    plan = served.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    assert "~ agent.support  (update, id " in plan.output
    assert "      agentSettings.webhooks:\n        [0]: - {" in plan.output
    assert '"name": "support-events"' in plan.output and "(sensitive)" in plan.output
    assert "Plan: 0 to create, 1 to update, 0 to delete, 2 unchanged." in plan.output
    data = json.loads(served.run("plan", "--format", "json").output)
    (support,) = [r for r in data["resources"] if r["action"] == "update"]
    (change,) = support["changes"]
    assert change["path"] == "agentSettings.webhooks" and change["after"] == []
    assert [d["path"] for d in change["details"]] == ["[0]"]
    assert change["sensitive"] is True

    journal = len(served.journal())
    applied(served)
    (patch,) = served.writes(journal)
    assert patch["method"] == "PATCH"
    assert patch["body"] == {"agentSettings": {"webhooks": []}}
    assert agent(served, "Acme Support")["agentSettings"]["webhooks"] == []
    assert (
        "webhooks" not in served.state()["resources"]["agent.support"]["applied"]["agentSettings"]
    )
    assert served.run("plan", "--detailed-exitcode").exit_code == 0
    everything = "".join(json.dumps(e) for e in served.journal()[journal:])
    assert SECRET not in (served.root / ".sigmaform/state/local.json").read_text()
    assert SECRET not in plan.output and SECRET not in everything


def test_removed_tools_and_analysis_are_sent_as_empty_arrays(served: Project) -> None:
    applied(served)
    served.edit(
        "agents/receptionist.yaml",
        "  tools:\n    - type: voice_end_call\n"
        "      instruction: End the call after reading the message back and saying goodbye.\n",
        "",
    )
    path = served.root / "agents/appointment-reminder.yaml"
    text = path.read_text()
    start = text.index("    postConversationAnalysis:\n")
    end = text.index("    webhooks:\n")
    path.write_text(text[:start] + text[end:])

    plan = served.run("plan")
    assert "  - {" not in plan.output  # items are shown as removed details, not as creates
    assert "tools:\n        [0]: - {" in plan.output
    assert "agentSettings.postConversationAnalysis:\n        [0]: - {" in plan.output
    assert "[1]: - {" in plan.output  # each removed item shown
    assert "Plan: 0 to create, 2 to update, 0 to delete, 1 unchanged." in plan.output

    journal = len(served.journal())
    applied(served)
    bodies = sorted(json.dumps(w["body"], sort_keys=True) for w in served.writes(journal))
    assert bodies == [
        json.dumps({"agentSettings": {"postConversationAnalysis": []}}),
        json.dumps({"tools": []}),
    ]
    assert agent(served, "Acme Receptionist")["tools"] == []
    reminder = agent(served, "Acme Appointment Reminder")["agentSettings"]
    assert reminder["postConversationAnalysis"] == []
    assert served.run("plan", "--detailed-exitcode").exit_code == 0


def test_removed_scalar_is_left_alone_in_its_own_section(served: Project) -> None:
    applied(served)
    served.edit(SUPPORT, "    maxCallDuration: 20\n", "")
    plan = served.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    assert (
        "No longer managed (removed from YAML; the remote value stays as it is):\n"
        "    agent.support\n"
        "      agentSettings.maxCallDuration: 20 (stays)\n"
    ) in plan.output
    data = json.loads(served.run("plan", "--format", "json").output)
    support = next(r for r in data["resources"] if r["address"] == "agent.support")
    assert support["unmanaged"] == ["agentSettings.maxCallDuration"]
    assert support["kept"] == [
        {"path": "agentSettings.maxCallDuration", "before": 20, "sensitive": False}
    ]
    markdown = served.run("plan", "--format", "markdown").output
    assert "      agentSettings.maxCallDuration: 20 (stays)\n```" in markdown
    journal = len(served.journal())
    applied(served)
    assert served.writes(journal) == []
    assert agent(served, "Acme Support")["agentSettings"]["maxCallDuration"] == 20


IGNORING = "protect: true"


def test_ignore_changes_sends_on_create_then_never_diffs_or_writes(served: Project) -> None:
    served.edit(
        SUPPORT,
        IGNORING,
        IGNORING + "\nignoreChanges: [welcomeMessage, agentSettings.llmModel]",
    )
    applied(served)
    support = agent(served, "Acme Support")
    assert support["welcomeMessage"].startswith("Hi, this is Acme")  # sent on create
    assert support["agentSettings"]["llmModel"] == "gpt-4o-mini"
    held = served.state()["resources"]["agent.support"]["applied"]
    assert "welcomeMessage" not in held and "llmModel" not in held["agentSettings"]

    # Changed in the dashboard and in the file: neither is drift nor a change.
    patch_remote(served, support["agentId"], {"welcomeMessage": "Seasonal greeting"})
    served.edit(SUPPORT, "llmModel: gpt-4o-mini", "llmModel: gpt-4.1")
    plan = served.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    assert "Changed outside sigmaform" not in plan.output and "No longer managed" not in plan.output
    drift = served.run("drift")
    assert drift.exit_code == 0, drift.output
    journal = len(served.journal())
    applied(served)
    assert served.writes(journal) == []
    support = agent(served, "Acme Support")
    assert support["welcomeMessage"] == "Seasonal greeting"
    assert support["agentSettings"]["llmModel"] == "gpt-4o-mini"


def test_unknown_ignore_changes_path_is_a_validate_error(example: Project) -> None:
    example.edit(SUPPORT, IGNORING, IGNORING + "\nignoreChanges: [agentSettings.llmModle, nope]")
    result = example.run("validate")
    assert result.exit_code == 1
    assert (
        "agents/support.yaml:6:17: ignoreChanges[0]: unknown path `agentSettings.llmModle` "
        "for kind Agent (did you mean `agentSettings.llmModel`?)"
    ) in result.output
    assert "agents/support.yaml:6:41: ignoreChanges[1]: unknown path `nope`" in result.output
    assert example.run("plan").exit_code == 1
    assert example.journal() == []


def test_restored_field_is_recorded_so_later_drift_shows(served: Project) -> None:
    """Item 6: remove, apply, restore, apply, then a dashboard edit is drift (exit 2)."""
    applied(served)
    served.edit(SUPPORT, "    maxCallDuration: 20\n", "")
    applied(served)
    assert (
        "maxCallDuration"
        not in served.state()["resources"]["agent.support"]["applied"]["agentSettings"]
    )
    served.edit(
        SUPPORT, "    ivrHangup: false\n", "    ivrHangup: false\n    maxCallDuration: 20\n"
    )
    journal = len(served.journal())
    result = applied(served)
    assert "No changes." in result.output
    assert served.writes(journal) == []  # the remote already holds it: nothing to send
    held = served.state()["resources"]["agent.support"]["applied"]["agentSettings"]
    assert held["maxCallDuration"] == 20

    patch_remote(
        served, agent(served, "Acme Support")["agentId"], {"agentSettings": {"maxCallDuration": 45}}
    )
    drift = served.run("drift")
    assert drift.exit_code == 2, drift.output
    assert "maxCallDuration" in drift.output
    plan = served.run("plan")
    assert "Changed outside sigmaform (will be restored on apply):" in plan.output
    assert "agentSettings.maxCallDuration: 20 -> 45" in plan.output
    assert "agentSettings.maxCallDuration: 45 -> 20" in plan.output
