"""plan/apply through the real CLI against the embedded emulator (local: environment)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import Project

from sigmaform.state import LocalBackend, LockInfo, render_document

SECRET = "local-only-support-secret"


def applied(example: Project) -> Any:
    result = example.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    return result


def test_quickstart_apply_then_plan_has_nothing_to_do(example: Project) -> None:
    result = applied(example)
    assert "agent.support: created" in result.output
    assert "Apply complete: 3 created." in result.output
    assert len(example.agents()) == 3
    writes = len(example.journal())
    again = example.run("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes." in again.output
    assert "Plan: 0 to create, 0 to update, 0 to delete, 3 unchanged." in again.output
    # The refresh read every agent and wrote nothing.
    new = example.journal()[writes:]
    assert new and all(e["method"] == "GET" for e in new)
    assert example.run("plan", "--no-refresh", "--detailed-exitcode").exit_code == 0


def test_detailed_exitcode_is_2_when_changes_are_pending(example: Project) -> None:
    result = example.run("plan", "--detailed-exitcode")
    assert result.exit_code == 2
    assert "Plan: 3 to create, 0 to update, 0 to delete, 0 unchanged." in result.output


def test_one_setting_change_sends_one_patch_with_only_that_field(example: Project) -> None:
    applied(example)
    example.edit("agents/support.yaml", "llmTemperature: 0.3", "llmTemperature: 0.6")
    plan = example.run("plan")
    assert "agentSettings.llmTemperature: 0.3 -> 0.6" in plan.output
    assert "Plan: 0 to create, 1 to update, 0 to delete, 2 unchanged." in plan.output
    before = len(example.journal())
    assert example.run("apply", "--auto-approve").exit_code == 0
    writes = example.writes(before)
    assert len(writes) == 1
    (patch,) = writes
    assert patch["method"] == "PATCH" and patch["path"].startswith("/v1/agents/")
    assert patch["body"] == {"agentSettings": {"llmTemperature": 0.6}}
    assert example.run("plan", "--detailed-exitcode").exit_code == 0


def test_webhook_url_change_sends_whole_array_with_ids_kept(example: Project) -> None:
    applied(example)
    support = next(a for a in example.agents() if a["agentName"].startswith("Acme Support"))
    (hook,) = support["agentSettings"]["webhooks"]
    example.edit("agents/support.yaml", "/sigmamind/support", "/sigmamind/support-v2")
    before = len(example.journal())
    result = example.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    (patch,) = example.writes(before)
    sent = patch["body"]["agentSettings"]["webhooks"]
    assert list(patch["body"]) == ["agentSettings"]
    assert list(patch["body"]["agentSettings"]) == ["webhooks"]
    assert [w["webhookId"] for w in sent] == [hook["webhookId"]]
    after = next(a for a in example.agents() if a["agentId"] == support["agentId"])
    (new_hook,) = after["agentSettings"]["webhooks"]
    assert new_hook["webhookId"] == hook["webhookId"]
    assert new_hook["url"].endswith("/sigmamind/support-v2")


def test_replace_mode_server_still_ends_with_every_declared_setting(example: Project) -> None:
    applied(example)
    (example.emulator_dir / "emulator.json").write_text(json.dumps({"settings_patch": "replace"}))
    example.edit("agents/support.yaml", "llmTemperature: 0.3", "llmTemperature: 0.6")
    before = len(example.journal())
    result = example.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    patches = [e for e in example.writes(before) if e["method"] == "PATCH"]
    assert len(patches) == 2  # the minimal one, then the whole declared agentSettings
    assert patches[0]["body"] == {"agentSettings": {"llmTemperature": 0.6}}
    assert patches[1]["body"]["agentSettings"]["voiceId"] == "elevenlabs_SGbOfpm28edC83pZ9iGb"
    support = next(a for a in example.agents() if a["agentName"].startswith("Acme Support"))
    settings = support["agentSettings"]
    assert settings["llmTemperature"] == 0.6
    assert settings["voiceId"] == "elevenlabs_SGbOfpm28edC83pZ9iGb"
    assert settings["agentTimezone"] == "America/New_York"
    assert example.run("plan", "--detailed-exitcode").exit_code == 0


def test_saved_plan_is_applied_exactly_and_refused_when_stale(example: Project) -> None:
    plan_file = example.root / "plan.json"
    made = example.run("plan", "--out", str(plan_file))
    assert made.exit_code == 0 and plan_file.exists()
    stale = example.root / "stale.json"
    stale.write_bytes(plan_file.read_bytes())
    result = example.run("apply", str(plan_file))
    assert result.exit_code == 0, result.output
    assert len(example.agents()) == 3
    refused = example.run("apply", str(stale))
    assert refused.exit_code == 3
    assert "state changed since this plan was made" in refused.output


def test_saved_plan_refused_when_files_changed(example: Project) -> None:
    plan_file = example.root / "plan.json"
    assert example.run("plan", "--out", str(plan_file)).exit_code == 0
    example.edit("agents/support.yaml", "llmTemperature: 0.3", "llmTemperature: 0.5")
    refused = example.run("apply", str(plan_file))
    assert refused.exit_code == 3
    assert "configuration changed since this plan was made" in refused.output
    assert example.writes() == []


def test_concurrent_apply_is_refused_naming_the_holder(example: Project) -> None:
    backend = LocalBackend(example.root / ".sigmaform" / "state" / "local.json")
    with backend.lock(LockInfo("apply", who="ci-runner-7")):
        result = example.run("apply", "--auto-approve")
    assert result.exit_code == 3
    assert "locked by ci-runner-7@" in result.output
    assert f"run `{example.command('state', 'unlock')}`" in result.output
    assert example.writes() == []


def test_protected_resource_is_not_deleted_even_with_allow_delete(example: Project) -> None:
    applied(example)
    (example.root / "agents" / "support.yaml").unlink()
    plan = example.run("plan")
    assert "agent.support  (protected: not deleted" in plan.output
    assert "0 to delete, 1 protected" in plan.output
    before = len(example.journal())
    refused = example.run("apply", "--auto-approve", "--allow-delete")
    assert refused.exit_code == 3
    assert "refusing to delete protected resources: agent.support" in refused.output
    assert f"`{example.command('state', 'rm', 'agent.support')}`" in refused.output
    assert example.writes(before) == []
    assert len(example.agents()) == 3


def test_delete_needs_allow_delete(example: Project) -> None:
    applied(example)
    (example.root / "agents" / "receptionist.yaml").unlink()
    kept = example.run("apply", "--auto-approve")
    assert kept.exit_code == 0
    assert "agent.receptionist: skipped: left alone: run with --allow-delete" in kept.output
    assert len(example.agents()) == 3
    gone = example.run("apply", "--auto-approve", "--allow-delete")
    assert gone.exit_code == 0, gone.output
    assert "agent.receptionist: deleted" in gone.output
    assert len(example.agents()) == 2
    assert "agent.receptionist" not in example.state()["resources"]


def test_apply_without_terminal_needs_auto_approve(example: Project) -> None:
    result = example.run("apply")
    assert result.exit_code == 1
    assert "pass --auto-approve" in result.output
    assert "Plan:" not in result.output  # refused before planning: nothing read or sent
    assert example.journal() == []


def test_no_secret_in_state_plan_files_or_outputs(example: Project) -> None:
    outputs = [applied(example).output]
    example.edit("agents/support.yaml", "${secret.SUPPORT_WEBHOOK_SECRET}", "${secret.ROTATED}")
    example.edit(
        "sigmaform.yaml",
        "SUPPORT_WEBHOOK_SECRET: ",
        "ROTATED: rotated-secret-value\n      SUPPORT_WEBHOOK_SECRET: ",
    )
    plan_file = example.root / "p.json"
    for fmt in ("text", "json", "markdown"):
        result = example.run("plan", "--format", fmt, "--out", str(plan_file))
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert "(sensitive, changed)" in outputs[1]
    outputs.append(example.run("apply", str(plan_file)).output)
    outputs.append(example.run("state", "show", "agent.support").output)
    state_dir = example.root / ".sigmaform" / "state"
    files = [p for p in state_dir.rglob("*") if p.is_file()] + [plan_file]  # blobs too
    blobs = outputs + [p.read_text() for p in files]
    for blob in blobs:
        assert SECRET not in blob
        assert "rotated-secret-value" not in blob
    support = next(a for a in example.agents() if a["agentName"].startswith("Acme Support"))
    assert support["agentSettings"]["webhooks"][0]["secret"] == "rotated-secret-value"


def test_state_commands(example: Project) -> None:
    applied(example)
    listed = example.run("state", "list", "--format", "json")
    rows = json.loads(listed.output)["resources"]
    assert [r["address"] for r in rows] == [
        "agent.appointment-reminder",
        "agent.receptionist",
        "agent.support",
    ]
    assert example.run("state", "mv", "agent.receptionist", "agent.front-desk").exit_code == 0
    assert "agent.front-desk" in example.state()["resources"]
    missing = example.run("state", "show", "agent.nope")
    assert missing.exit_code == 1 and "no resource `agent.nope` in state" in missing.output
    bad = example.run("state", "mv", "agent.front-desk", "nonsense")
    assert bad.exit_code == 1 and "is not an address" in bad.output
    assert example.run("state", "rm", "agent.front-desk").exit_code == 0
    assert "agent.front-desk" not in example.state()["resources"]
    unlocked = example.run("state", "unlock")
    assert unlocked.exit_code == 0


def test_state_file_is_sorted_and_matches_its_schema(example: Project, repo_root: Path) -> None:
    import jsonschema

    applied(example)
    path = example.root / ".sigmaform" / "state" / "local.json"
    text = path.read_text()
    data = json.loads(text)
    assert text == render_document(data)  # sorted, one line per resource
    schema = json.loads((repo_root / "schemas" / "state.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(data)
    plan_json = json.loads(example.run("plan", "--format", "json").output)
    plan_schema = json.loads((repo_root / "schemas" / "plan.schema.json").read_text())
    jsonschema.Draft202012Validator(plan_schema).validate(plan_json)


def test_json_and_saved_plans_carry_the_digests_a_shown_plan_skips(example: Project) -> None:
    # A plan shown as text is built without its digests (build_plan(digests=False)); one
    # that is written out must have them, or apply could not check it against the files.
    shown = json.loads(example.run("plan", "--no-refresh", "--format", "json").output)
    assert shown["configDigest"].startswith("sha256:")
    assert all(r["configDigest"] for r in shown["resources"])
    saved = example.root / "plan.json"
    assert example.run("plan", "--no-refresh", "--out", str(saved)).exit_code == 0
    written = json.loads(saved.read_text())
    assert written["configDigest"].startswith("sha256:")  # keyed by a new state's lineage
    digests = {r["address"]: r["configDigest"] for r in written["resources"]}
    assert digests == {r["address"]: r["configDigest"] for r in shown["resources"]}
    applied_run = example.run("apply", str(saved))
    assert applied_run.exit_code == 0, applied_run.output
    assert example.run("plan", "--detailed-exitcode").exit_code == 0


def test_create_refused_when_agent_name_exists_remotely_unmanaged(example: Project) -> None:
    with example.api() as api:
        made = api.post(
            "/v1/agents", json={"agentName": "Acme Support (local)", "instructions": "hand-made"}
        )
        assert made.status_code == 201
    agent_id = made.json()["agentId"]
    plan = example.run("plan")
    assert f"`{example.command('import', agent_id, '--name', 'support')}`" in plan.output
    refused = example.run("apply", "--auto-approve")
    assert refused.exit_code == 3
    assert "already exist remotely but are not managed" in refused.output
    assert len(example.agents()) == 1


def test_bad_input_is_refused_before_any_request(example: Project) -> None:
    example.edit("agents/support.yaml", "welcomeMessageType: static", "welcomeMessageType: loud")
    for command in (("plan",), ("apply", "--auto-approve")):
        result = example.run(*command)
        assert result.exit_code == 1, result.output
        assert "agents/support.yaml:9:" in result.output
        assert "spec.welcomeMessageType" in result.output
        assert "Traceback" not in result.output
    assert example.journal() == []


def test_verbose_logs_requests_to_stderr_without_secrets(example: Project) -> None:
    applied(example)
    example.run("-v", "plan")  # a first -v run in this process must not break the second
    result = example.run("-v", "plan")
    assert result.exit_code == 0, result.output
    assert "sigmaform.client: GET /v1/agents/" in result.stderr
    assert SECRET not in result.output and "X-API-Key" not in result.output


def test_field_removed_from_yaml_is_reported_once_then_forgotten(example: Project) -> None:
    applied(example)
    example.edit("agents/support.yaml", "    llmTemperature: 0.3\n", "")
    plan = example.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    assert "No longer managed (removed from YAML" in plan.output
    assert "agentSettings.llmTemperature: 0.3 (stays)" in plan.output
    before = len(example.journal())
    assert example.run("apply", "--auto-approve").exit_code == 0
    assert example.writes(before) == []  # the remote value is left alone
    again = example.run("plan")
    assert "No longer managed" not in again.output
    support = next(a for a in example.agents() if a["agentName"].startswith("Acme Support"))
    assert support["agentSettings"]["llmTemperature"] == 0.3


def test_state_unlock_refuses_a_live_holder_even_forced(example: Project) -> None:
    backend = LocalBackend(example.root / ".sigmaform" / "state" / "local.json")
    with backend.lock(LockInfo("apply", who="ci-runner-7")):
        refused = example.run("state", "unlock")
        assert refused.exit_code == 3
        assert "held by ci-runner-7@" in refused.output and "still running" in refused.output
        forced = example.run("state", "unlock", "--force")
        assert forced.exit_code == 3, forced.output
        assert "held by ci-runner-7@" in forced.output and "not even with --force" in forced.output
        assert backend.is_locked() and backend.lock_holder() is not None
    assert example.run("state", "unlock").output.startswith("No lock information found")


def test_a_problem_repeated_many_times_is_counted_not_flooded(example: Project) -> None:
    agents = example.root / "agents"
    for i in range(6):
        (agents / f"copy{i}.yaml").write_text(
            f"kind: Agent\nname: copy{i}\nspec:\n  agentName: Copy {i}\n"
            "  agentSettings:\n    webhooks:\n      - name: h\n"
            "        url: https://h.example\n        events: [conversation_ended]\n"
            "        secret: ${secret.NEVER_SET}\n"
        )
    result = example.run("plan", "--no-refresh")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "NEVER_SET" in line]
    assert len(lines) == 3
    assert "... and 3 more with the same message" in result.output
    validate = example.run("validate", "--format", "json")
    assert validate.exit_code == 0  # validate needs no secret values
