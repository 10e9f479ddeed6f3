"""`sigmaform promote`: the gate (design section 6) and promotion through the real CLI.

staging and prod are two workspaces (one API key each) of one emulator on a loopback socket.
"""

from __future__ import annotations

import json

import pytest
from multienv import PROD_KEY, PROD_NUMBER, STAGING_KEY, STAGING_NUMBER, MultiEnv, multi

from sigmaform.digest import config_digest
from sigmaform.promote import Reason, gate
from sigmaform.resource import Resource
from sigmaform.state import LocalBackend, LockInfo, ResourceState, State

__all__ = ["multi"]  # the fixture, imported for pytest

PROMPT = "agents/prompts/support.md"


def apply_staging(multi: MultiEnv) -> None:
    result = multi.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "Apply complete: 1 adopted, 3 created." in result.output


def promote(multi: MultiEnv, *args: str) -> object:
    return multi.run("promote", "--to", "prod", *args, env=None)


def test_apply_staging_then_promote_gives_prod_its_own_values(multi: MultiEnv) -> None:
    apply_staging(multi)
    assert multi.agents(PROD_KEY) == {}
    result = multi.run("promote", "--to", "prod", "--apply", "--auto-approve", env=None)
    assert result.exit_code == 0, result.output
    assert "Promotion gate passed: 4 resources are as staging last applied them." in result.output
    assert "Plan: 3 to create, 1 to adopt, 0 to update, 0 to delete, 0 unchanged." in result.output
    assert "Promotion to prod complete: 1 adopted, 3 created." in result.output

    staging, prod = multi.agents(STAGING_KEY), multi.agents(PROD_KEY)
    assert sorted(staging) == [
        "Acme Appointment Reminder (staging)",
        "Acme Receptionist (staging)",
        "Acme Support (staging)",
    ]
    assert sorted(prod) == [
        "Acme Appointment Reminder",
        "Acme Receptionist",
        "Acme Support",
    ]
    assert staging["Acme Support (staging)"]["agentSettings"]["llmModel"] == "gpt-4o-mini"
    assert prod["Acme Support"]["agentSettings"]["llmModel"] == "gpt-4o"  # prod's override
    hooks = prod["Acme Support"]["agentSettings"]["webhooks"]
    assert [h["url"] for h in hooks] == ["https://hooks.acme.example/sigmamind/support"]
    staging_hooks = staging["Acme Support (staging)"]["agentSettings"]["webhooks"]
    assert [h["url"] for h in staging_hooks] == [
        "https://hooks.staging.acme.example/sigmamind/support"
    ]
    # Same prompt in both: the instructions are what the files say.
    prompt = (multi.root / PROMPT).read_text()
    assert prod["Acme Support"]["instructions"] == prompt
    # Each number answers with its own workspace's support agent.
    prod_line = multi.phone_number(PROD_KEY, PROD_NUMBER)
    assert prod_line["inboundAgentId"] == prod["Acme Support"]["agentId"]
    staging_line = multi.phone_number(STAGING_KEY, STAGING_NUMBER)
    assert staging_line["inboundAgentId"] == staging["Acme Support (staging)"]["agentId"]
    # Separate states, each naming its environment and holding its own ids.
    staging_state, prod_state = multi.state("staging"), multi.state("prod")
    assert staging_state["environment"] == "staging" and prod_state["environment"] == "prod"
    assert staging_state["lineage"] != prod_state["lineage"]
    assert prod_state["resources"]["agent.support"]["id"] == prod["Acme Support"]["agentId"]

    again = promote(multi)
    assert again.exit_code == 0, again.output
    assert "No changes." in again.output
    assert multi.run("plan", "--detailed-exitcode", env="prod").exit_code == 0


def test_prompt_edited_after_staging_apply_blocks_promotion_until_staging_applies(
    multi: MultiEnv,
) -> None:
    apply_staging(multi)
    assert promote(multi, "--apply", "--auto-approve").exit_code == 0
    before = multi.agents(PROD_KEY)

    multi.edit(
        PROMPT,
        "Acme",
        "Acme Corp",
    )
    refused = promote(multi, "--apply", "--auto-approve")
    assert refused.exit_code == 3, refused.output
    assert "promotion to `prod` refused: 1 resource is not what `staging` last applied:" in (
        refused.output
    )
    assert "agent.support (agents/support.yaml): changed since staging applied it" in (
        refused.output
    )
    assert "agent.receptionist" not in refused.output
    assert f"(sigmaform -C {multi.root} -e staging apply), then promote again" in refused.output
    assert multi.agents(PROD_KEY) == before  # nothing sent to prod
    # Without --apply the gate refuses as well: a PR check shows it early.
    assert promote(multi).exit_code == 3

    assert multi.run("apply", "--auto-approve").exit_code == 0
    result = promote(multi, "--apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "Plan: 0 to create, 1 to update, 0 to delete, 3 unchanged." in result.output
    prod = multi.agents(PROD_KEY)
    assert prod["Acme Support"]["instructions"] == (multi.root / PROMPT).read_text()
    assert "Acme Corp" in prod["Acme Support"]["instructions"]


def test_gate_names_every_resource_staging_never_applied(multi: MultiEnv) -> None:
    result = promote(multi)
    assert result.exit_code == 3
    assert "4 resources are not what `staging` last applied" in result.output
    for address in (
        "agent.appointment-reminder",
        "agent.receptionist",
        "agent.support",
        "phone-number.main-line",
    ):
        assert f"{address} (" in result.output
    assert result.output.count("staging never applied it") == 4


def test_partial_staging_apply_gates_the_rest(multi: MultiEnv) -> None:
    result = multi.run("apply", "--auto-approve", "--target", "Agent.receptionist")
    assert result.exit_code == 0, result.output
    refused = promote(multi)
    assert refused.exit_code == 3
    assert "agent.receptionist" not in refused.output
    assert refused.output.count("staging never applied it") == 3


def test_unverified_staging_apply_is_refused(multi: MultiEnv) -> None:
    apply_staging(multi)
    # What apply records when it could not verify a resource: an empty configDigest.
    path = multi.state_path("staging")
    data = json.loads(path.read_text())
    data["resources"]["agent.receptionist"]["configDigest"] = ""
    path.write_text(json.dumps(data))
    refused = promote(multi)
    assert refused.exit_code == 3
    assert "agent.receptionist (agents/receptionist.yaml): staging's last apply of it could " in (
        refused.output
    )


def test_promote_without_apply_only_plans(multi: MultiEnv) -> None:
    apply_staging(multi)
    result = promote(multi, "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert "agent.support" in result.output
    assert multi.agents(PROD_KEY) == {}
    assert not multi.state_path("prod").exists()


def test_promote_json_prints_only_the_plan_on_stdout(multi: MultiEnv) -> None:
    apply_staging(multi)
    result = promote(multi, "--format", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["environment"] == "prod"
    assert (plan["summary"]["create"], plan["summary"]["adopt"]) == (3, 1)
    assert "Promotion gate passed" in result.stderr


def test_json_with_apply_needs_auto_approve(multi: MultiEnv) -> None:
    apply_staging(multi)
    result = promote(multi, "--apply", "--format", "json")
    assert result.exit_code == 1
    assert "--format json prints JSON lines only" in result.output
    assert multi.agents(PROD_KEY) == {}


def test_apply_without_terminal_needs_auto_approve(multi: MultiEnv) -> None:
    apply_staging(multi)
    result = promote(multi, "--apply")
    assert result.exit_code == 1
    assert "pass --auto-approve" in result.output
    assert multi.agents(PROD_KEY) == {}


def test_environment_without_promote_from_is_an_error(multi: MultiEnv) -> None:
    result = multi.run("promote", "--to", "staging", env=None)
    assert result.exit_code == 1
    assert "environment `staging` has no `promoteFrom`" in result.output
    assert "(known: local, prod, staging)" in result.output


def test_unknown_target_environment_is_an_error(multi: MultiEnv) -> None:
    result = multi.run("promote", "--to", "qa", env=None)
    assert result.exit_code == 1
    assert "unknown environment `qa`" in result.output


def test_target_only_resource_is_not_gated(multi: MultiEnv) -> None:
    apply_staging(multi)
    extra = multi.root / "agents" / "vip.yaml"
    extra.write_text(
        "kind: Agent\nname: vip\nonly: [prod]\nspec:\n"
        "  agentName: Acme VIP\n  instructions: Help VIP customers.\n"
    )
    result = promote(multi, "--apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "Not gated (not declared in staging): agent.vip." in result.output
    assert "Acme VIP" in multi.agents(PROD_KEY)


def test_prod_only_override_changes_need_no_staging_apply(multi: MultiEnv) -> None:
    apply_staging(multi)
    assert promote(multi, "--apply", "--auto-approve").exit_code == 0
    multi.edit("agents/support.yaml", "llmModel: gpt-4o   ", "llmModel: gpt-4.1  ")
    result = promote(multi, "--apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert 'agentSettings.llmModel: "gpt-4o" -> "gpt-4.1"' in result.output
    assert multi.agents(PROD_KEY)["Acme Support"]["agentSettings"]["llmModel"] == "gpt-4.1"


def test_delete_is_promoted_only_after_staging_ran_it(multi: MultiEnv) -> None:
    apply_staging(multi)
    assert promote(multi, "--apply", "--auto-approve").exit_code == 0
    (multi.root / "agents" / "receptionist.yaml").unlink()
    # staging left it alone (no --allow-delete): prod may not delete it either.
    assert multi.run("apply", "--auto-approve").exit_code == 0
    refused = promote(multi, "--apply", "--auto-approve", "--allow-delete")
    assert refused.exit_code == 3
    assert "agent.receptionist: its file is gone but staging still manages it" in refused.output
    assert "Acme Receptionist" in multi.agents(PROD_KEY)
    assert promote(multi, "--allow-delete").exit_code == 3  # a plan-only run says so too
    # Without --allow-delete the promotion goes ahead and leaves the agent alone.
    kept = promote(multi, "--apply", "--auto-approve")
    assert kept.exit_code == 0, kept.output
    assert "Acme Receptionist" in multi.agents(PROD_KEY)

    deleted = multi.run("apply", "--auto-approve", "--allow-delete")
    assert deleted.exit_code == 0, deleted.output
    assert "Acme Receptionist (staging)" not in multi.agents(STAGING_KEY)
    # Now the gate passes; prod's own safety (allowDelete: false) still needs --force.
    unsafe = promote(multi, "--apply", "--auto-approve", "--allow-delete")
    assert unsafe.exit_code == 3
    assert "safety.allowDelete: false" in unsafe.output
    forced = promote(multi, "--apply", "--auto-approve", "--allow-delete", "--force")
    assert forced.exit_code == 0, forced.output
    assert "Acme Receptionist" not in multi.agents(PROD_KEY)


# The gate itself is a pure function: a few direct cases.


def _agent(name: str, prompt: str = "hi") -> Resource:
    spec = {"agentName": name, "instructions": prompt}
    return Resource("Agent", name, spec, f"agents/{name}.yaml")


def test_gate_pure_cases() -> None:
    same, edited, fresh, blank = _agent("a"), _agent("b", "new"), _agent("c"), _agent("d")
    state = State.new("staging")
    for resource, digest in (
        (same, config_digest(same)),
        (edited, config_digest(_agent("b", "old"))),
        (blank, ""),
    ):
        state = state.with_resource(
            resource.address, ResourceState("Agent", "id-" + resource.name, {}, digest, "t")
        )
    result = gate(
        [same, edited, fresh, blank],
        state,
        ["agent.a", "agent.b", "agent.c", "agent.d", "agent.e"],
        target_env="prod",
    )
    assert not result.passed
    assert [(p.address, p.reason) for p in result.problems] == [
        ("agent.b", Reason.CHANGED),
        ("agent.c", Reason.NEVER_APPLIED),
        ("agent.d", Reason.UNVERIFIED),
    ]
    assert result.gated == ("agent.a",)
    assert result.not_gated == ("agent.e",)
    assert str(result.problems[0]) == "agent.b (agents/b.yaml): changed since staging applied it"


def test_file_change_that_needs_no_request_still_unblocks_promotion(multi: MultiEnv) -> None:
    apply_staging(multi)
    # A field removed from YAML stops being managed: staging's plan is a no-op, but the
    # config changed, so staging's apply must record the new digest for the gate.
    multi.edit("agents/support.yaml", "    ivrHangup: false\n", "")
    assert promote(multi).exit_code == 3
    result = multi.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "No changes." in result.output
    promoted = promote(multi, "--apply", "--auto-approve")
    assert promoted.exit_code == 0, promoted.output
    assert "Promotion gate passed: 4 resources" in promoted.output


def test_promote_needs_the_target_key_only_after_the_gate(
    multi: MultiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SIGMAMIND_API_KEY_PROD")
    monkeypatch.delenv("SIGMAMIND_API_KEY_STAGING")
    monkeypatch.delenv("SUPPORT_WEBHOOK_SECRET")
    # The gate itself is offline and needs no key or secret: it refuses first.
    refused = promote(multi)
    assert refused.exit_code == 3
    assert "staging never applied it" in refused.output


def test_promote_with_missing_target_key_fails_clearly(
    multi: MultiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_staging(multi)
    monkeypatch.delenv("SIGMAMIND_API_KEY_STAGING")  # the source's key is not needed
    monkeypatch.delenv("SIGMAMIND_API_KEY_PROD")
    result = promote(multi)
    assert result.exit_code == 1
    assert "environment `prod` needs an API key: set SIGMAMIND_API_KEY_PROD" in result.output


def test_failure_in_the_target_exits_1_naming_the_resource(multi: MultiEnv) -> None:
    apply_staging(multi)
    # A prod-only value (not gated) naming a number prod's workspace does not have.
    multi.edit(
        "numbers/main-line.yaml",
        "environments:\n",
        'environments:\n  prod:\n    phoneNumber: "+14155550199"\n',
    )
    result = promote(multi, "--apply", "--auto-approve")
    assert result.exit_code == 1, result.output
    assert (
        "numbers/main-line.yaml:5:1: spec.phoneNumber: phone-number.main-line: "
        "PhoneNumber +14155550199 does not exist in this workspace" in result.stderr
    )
    assert multi.agents(PROD_KEY) == {}  # refused before anything was sent


def test_promotion_hints_name_the_target_environment(multi: MultiEnv) -> None:
    apply_staging(multi)
    lock = LocalBackend(multi.state_path("prod"))
    with lock.lock(LockInfo("apply", who="ci-runner-7")):
        held = promote(multi, "--apply", "--auto-approve")
    assert held.exit_code == 3, held.output
    # `-e` was not given (promote takes --to), yet the pasteable hint names prod.
    assert f"run `sigmaform -C {multi.root} -e prod state unlock`" in held.output
    assert multi.agents(PROD_KEY) == {}
