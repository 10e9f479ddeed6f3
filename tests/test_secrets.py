"""Secrets and API keys end to end (design 2.4): sent to the API and nowhere else."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from conftest import Project
from multienv import (
    PROD_KEY,
    REMINDER_SECRET,
    STAGING_KEY,
    SUPPORT_SECRET,
    MultiEnv,
    multi,
)

__all__ = ["multi"]  # the fixture, imported for pytest

ROTATED = "whsec-support-rotated-7c3d"


def assert_nothing_leaked(multi: MultiEnv, *extra: Path) -> None:
    """No output, and no file sigmaform wrote, holds a secret or an API key."""
    needles = (SUPPORT_SECRET, ROTATED, REMINDER_SECRET, STAGING_KEY, PROD_KEY)
    assert multi.outputs
    for number, output in enumerate(multi.outputs):
        for needle in needles:
            assert needle not in output, f"output #{number} holds a secret"
    files = [*multi.written_files(), *extra]
    assert any(p.name == "staging.json" for p in files)
    for path in files:
        text = path.read_text(errors="replace")
        for needle in needles:
            assert needle not in text, f"{path} holds a secret"


def test_rotated_webhook_secret_shows_as_sensitive_change_and_leaks_nowhere(
    multi: MultiEnv, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert multi.run("-v", "apply", "--auto-approve").exit_code == 0
    assert (
        multi.run("promote", "--to", "prod", "--apply", "--auto-approve", env=None).exit_code == 0
    )
    hooks = multi.agents(STAGING_KEY)["Acme Support (staging)"]["agentSettings"]["webhooks"]
    assert [h.get("secret") for h in hooks] in ([SUPPORT_SECRET], [None])  # reached the API

    monkeypatch.setenv("SUPPORT_WEBHOOK_SECRET", ROTATED)
    plan_file = multi.root / "rotate.plan.json"
    plan = multi.run("plan", "--out", str(plan_file), "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    assert "agentSettings.webhooks" in plan.output
    assert "(sensitive, changed)" in plan.output
    assert "Plan: 0 to create, 1 to update, 0 to delete, 3 unchanged." in plan.output
    markdown = multi.run("plan", "--format", "markdown")
    assert "(sensitive, changed)" in markdown.output
    as_json = multi.run("plan", "--format", "json")
    assert '"sensitive": true' in as_json.output
    applied = multi.run("-v", "apply", str(plan_file))
    assert applied.exit_code == 0, applied.output
    assert multi.run("plan", "--detailed-exitcode").exit_code == 0

    # Rotation does not change the promotion digest (secrets count by source): prod updates.
    prod_plan = multi.run("plan", "--out", str(multi.root / "prod.plan.json"), env="prod")
    assert "(sensitive, changed)" in prod_plan.output
    promoted = multi.run("-v", "promote", "--to", "prod", "--apply", "--auto-approve", env=None)
    assert promoted.exit_code == 0, promoted.output
    multi.run("diff-env", "staging", "prod", "--format", "json", env=None)
    multi.run("state", "show", "agent.support")
    multi.outputs.append(caplog.text)  # debug logs of the client too
    assert_nothing_leaked(multi)


def test_validate_is_offline_and_needs_no_secret(
    multi: MultiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SUPPORT_WEBHOOK_SECRET", "REMINDER_WEBHOOK_SECRET"):
        monkeypatch.delenv(name)
    for name in ("SIGMAMIND_API_KEY_STAGING", "SIGMAMIND_API_KEY_PROD"):
        monkeypatch.delenv(name)
    result = multi.run("validate", env=None)
    assert result.exit_code == 0, result.output
    assert "OK: 4 resources valid" in result.output
    # Nothing reached the API.
    assert multi.app.journal.entries == []


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_missing_secret_fails_naming_the_variable_without_values(
    multi: MultiEnv, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.delenv("SUPPORT_WEBHOOK_SECRET")
    args = [command, "--auto-approve"] if command == "apply" else [command]
    result = multi.run(*args)
    assert result.exit_code == 1
    assert "`${secret.SUPPORT_WEBHOOK_SECRET}`: environment variable `SUPPORT_WEBHOOK_SECRET`" in (
        result.output
    )
    assert "is not set or empty (environment `staging`)" in result.output
    assert "agents/support.yaml:" in result.output
    assert "Traceback" not in result.output
    assert multi.app.journal.entries == []
    assert_nothing_leaked_in(result.output)


def assert_nothing_leaked_in(output: str) -> None:
    for needle in (SUPPORT_SECRET, REMINDER_SECRET, STAGING_KEY, PROD_KEY):
        assert needle not in output


def test_missing_api_key_names_its_variable(
    multi: MultiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SIGMAMIND_API_KEY_PROD")
    result = multi.run("plan", env="prod")
    assert result.exit_code == 1
    assert "environment `prod` needs an API key: set SIGMAMIND_API_KEY_PROD" in result.output


def test_rejected_api_key_is_named_not_shown(
    multi: MultiEnv, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "sk-wrong-0a1b2c3d4e"
    # The prod key used for staging: a real key, but not this workspace's (401 here,
    # because the emulator knows only the two keys).
    monkeypatch.setenv("SIGMAMIND_API_KEY_STAGING", wrong)
    result = multi.run("-v", "plan")
    assert result.exit_code == 1
    assert "the API key from SIGMAMIND_API_KEY_STAGING" in result.output
    assert "was rejected" in result.output
    assert "Traceback" not in result.output
    for text in (result.output, caplog.text):
        assert wrong not in text
        assert_nothing_leaked_in(text)
    applied = multi.run("-v", "apply", "--auto-approve")
    assert applied.exit_code == 1
    assert wrong not in applied.output and wrong not in caplog.text


def test_secret_defaults_outside_local_is_a_warning(multi: MultiEnv) -> None:
    multi.edit(
        "sigmaform.yaml",
        "    apiKeyEnv: SIGMAMIND_API_KEY_STAGING\n",
        "    apiKeyEnv: SIGMAMIND_API_KEY_STAGING\n"
        "    secretDefaults: {SUPPORT_WEBHOOK_SECRET: not-for-staging}\n",
    )
    result = multi.run("validate", env=None)
    assert result.exit_code == 0, result.output
    assert "warning: environments.staging.secretDefaults: secretDefaults on `staging`" in (
        result.output
    )
    assert "OK: 4 resources valid (1 warning)" in result.output
    # local's secretDefaults (baseUrl local:) draw no warning.
    assert "secretDefaults on `local`" not in result.output


def test_literal_webhook_secret_is_refused_outside_local(multi: MultiEnv) -> None:
    literal = "whsec-literal-in-yaml-55"
    multi.edit("agents/support.yaml", '"${secret.SUPPORT_WEBHOOK_SECRET}"', f'"{literal}"')
    result = multi.run("validate", env=None)
    assert result.exit_code == 1, result.output
    assert "a literal secret in a file ends up in git" in result.output
    assert literal not in result.output
    plan = multi.run("plan")
    assert plan.exit_code == 1, plan.output
    assert "a literal secret in a file ends up in git" in plan.output
    assert literal not in plan.output
    assert multi.app.journal.entries == []  # refused before any request


def test_state_keeps_fingerprints_keyed_per_lineage(multi: MultiEnv) -> None:
    assert multi.run("apply", "--auto-approve").exit_code == 0
    assert multi.run("apply", "--auto-approve", env="prod").exit_code == 0

    def hook_secret(env: str) -> str:
        applied = multi.state(env)["resources"]["agent.support"]["applied"]
        (hook,) = applied["agentSettings"]["webhooks"]
        return str(hook["secret"])

    staging, prod = hook_secret("staging"), hook_secret("prod")
    # 128 bits of the HMAC in base64url: short in the document, as unguessable as ever.
    assert re.fullmatch(r"sensitive:v3:[A-Za-z0-9_-]{22}", staging)
    assert re.fullmatch(r"sensitive:v3:[A-Za-z0-9_-]{22}", prod)
    # The same value in both environments, but a different key per state lineage: the
    # fingerprints cannot be compared across states (nor looked up in a table).
    assert staging != prod
    show = multi.run("state", "show", "agent.support")
    assert show.exit_code == 0, show.output
    assert '"secret": "(sensitive)"' in show.output  # not even the fingerprint is printed
    assert "hmac" not in show.output


def test_emulator_journal_masks_webhook_secrets(
    example: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "whsec-journal-0f9e8d7c"
    monkeypatch.setenv("SUPPORT_WEBHOOK_SECRET", secret)
    assert example.run("apply", "--auto-approve").exit_code == 0
    monkeypatch.setenv("SUPPORT_WEBHOOK_SECRET", ROTATED)  # a PATCH carries one too
    assert example.run("apply", "--auto-approve").exit_code == 0

    journal = (example.emulator_dir / "journal.jsonl").read_text()
    assert secret not in journal and ROTATED not in journal
    assert "local-only-reminder-secret" not in journal  # the other agent's, a secretDefault
    sent = [e for e in example.writes() if e["path"] == "/v1/agents" or e["method"] == "PATCH"]
    hooks = [h for e in sent for h in e["body"].get("agentSettings", {}).get("webhooks", [])]
    assert len(hooks) >= 3
    assert {h["secret"] for h in hooks} == {"(sensitive)"}
    # The emulator itself got the values: it is the server, and answers with them.
    support = next(a for a in example.agents() if a["agentName"] == "Acme Support (local)")
    assert support["agentSettings"]["webhooks"][0]["secret"] == ROTATED
