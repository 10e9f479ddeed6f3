"""Environments (design 2.3, 6): selection, overrides, `only:`, separate state, diff-env."""

from __future__ import annotations

import json

import pytest
from multienv import PROD_KEY, STAGING_KEY, MultiEnv, multi

__all__ = ["multi"]  # the fixture, imported for pytest


def test_staging_plan_file_is_refused_in_prod(multi: MultiEnv) -> None:
    plan_file = multi.root / "staging.plan.json"
    made = multi.run("plan", "--out", str(plan_file))
    assert made.exit_code == 0, made.output
    assert json.loads(plan_file.read_text())["environment"] == "staging"
    refused = multi.run("apply", str(plan_file), env="prod")
    assert refused.exit_code == 3
    assert "this plan was made for environment `staging`, not `prod`" in refused.output
    assert multi.agents(PROD_KEY) == {}
    assert multi.app.journal.entries == [e for e in multi.app.journal.entries if e.method == "GET"]
    # The same file still applies where it was made.
    assert multi.run("apply", str(plan_file)).exit_code == 0
    assert len(multi.agents(STAGING_KEY)) == 3


def test_sigmaform_env_selects_the_environment(
    multi: MultiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGMAFORM_ENV", "prod")
    result = multi.run("plan", env=None)
    assert result.exit_code == 0, result.output
    assert "Environment: prod" in result.output
    assert '"Acme Support"' in result.output
    # -e wins over SIGMAFORM_ENV.
    explicit = multi.run("plan")
    assert "Environment: staging" in explicit.output
    assert '"Acme Support (staging)"' in explicit.output


def test_several_environments_need_a_choice(multi: MultiEnv) -> None:
    result = multi.run("plan", env=None)
    assert result.exit_code == 1
    assert (
        "several environments (local, prod, staging): choose one with -e/--env or SIGMAFORM_ENV"
        in result.output
    )


def test_unknown_environment_lists_the_known_ones(multi: MultiEnv) -> None:
    result = multi.run("plan", env="stagign")
    assert result.exit_code == 1
    assert "unknown environment `stagign`" in result.output
    assert "known: local, prod, staging" in result.output
    assert "staging" in result.output.split("known:")[0]  # a did-you-mean suggestion


def test_single_environment_needs_no_choice(multi: MultiEnv) -> None:
    text = (multi.root / "sigmaform.yaml").read_text()
    head, _, _ = text.partition("  staging:")
    (multi.root / "sigmaform.yaml").write_text(head)
    (multi.root / "numbers" / "main-line.yaml").unlink()  # it names staging and prod
    support = multi.root / "agents" / "support.yaml"
    support.write_text(support.read_text().partition("environments:\n  prod:")[0])
    result = multi.run("plan", env=None)
    assert result.exit_code == 0, result.output
    assert "Environment: local" in result.output


def test_only_limits_a_resource_to_some_environments(multi: MultiEnv) -> None:
    local = multi.run("plan", "--no-refresh", env="local")
    assert local.exit_code == 0, local.output
    assert "phone-number.main-line" not in local.output
    staging = multi.run("plan", "--no-refresh")
    assert "phone-number.main-line" in staging.output
    assert '"+14155550124"' in staging.output  # staging's override of the number


def test_each_environment_has_its_own_state_and_key(multi: MultiEnv) -> None:
    assert multi.run("apply", "--auto-approve").exit_code == 0
    assert multi.run("apply", "--auto-approve", env="prod").exit_code == 0
    assert multi.state("staging")["environment"] == "staging"
    assert multi.state("prod")["environment"] == "prod"
    staging_ids = {r["id"] for r in multi.state("staging")["resources"].values()}
    prod_ids = {r["id"] for r in multi.state("prod")["resources"].values()}
    assert not staging_ids & prod_ids
    assert {a["agentId"] for a in multi.agents(STAGING_KEY).values()} <= staging_ids
    assert {a["agentId"] for a in multi.agents(PROD_KEY).values()} <= prod_ids
    # Applying one environment leaves the other's plan empty.
    assert multi.run("plan", "--detailed-exitcode", env="prod").exit_code == 0
    assert multi.run("plan", "--detailed-exitcode").exit_code == 0


def test_state_of_another_environment_is_refused(multi: MultiEnv) -> None:
    multi.edit("sigmaform.yaml", '".sigmaform/state/{environment}.json"', '"state.json"')
    assert multi.run("apply", "--auto-approve").exit_code == 0
    result = multi.run("plan", env="prod")
    assert result.exit_code == 1
    assert "state state.json belongs to environment `staging`, not `prod`" in result.output


def test_diff_env_shows_the_intended_and_other_differences(multi: MultiEnv) -> None:
    result = multi.run("diff-env", "staging", "prod", env=None)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Rendered config: staging -> prod" in out
    assert "~ agent.support (agents/support.yaml)" in out
    assert '    agentSettings.llmModel: "gpt-4o-mini" -> "gpt-4o"' in out
    assert '    agentName: "Acme Support (staging)" -> "Acme Support"' in out
    assert (
        '    agentSettings.webhooks[0].url: "https://hooks.staging.acme.example/sigmamind/support"'
        ' -> "https://hooks.acme.example/sigmamind/support"' in out
    )
    assert '    phoneNumber: "+14155550124" -> "+14155550123"' in out
    # The same secret source in both: not a difference, and never shown.
    assert "secret" not in out.replace("secret.", "")
    assert "4 differ, 0 identical, 0 only in staging, 0 only in prod." in out
    assert multi.app.journal.entries == []  # offline


def test_diff_env_json_and_only_in_one(multi: MultiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUPPORT_WEBHOOK_SECRET")  # local falls back to its secretDefaults
    result = multi.run("diff-env", "local", "staging", "--format", "json", env=None)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["environments"] == ["local", "staging"]
    by_address = {r["address"]: r for r in data["resources"]}
    assert by_address["phone-number.main-line"]["status"] == "only in staging"
    fields = {f["path"]: f for f in by_address["agent.support"]["fields"]}
    # local's secretDefaults value vs staging's variable: differs, shown only as masked.
    secret = fields["agentSettings.webhooks[0].secret"]
    assert secret == {
        "path": "agentSettings.webhooks[0].secret",
        "sensitive": True,
        "values": {"local": "(sensitive)", "staging": "(sensitive)"},
    }
    assert fields["agentName"]["values"] == {
        "local": "Acme Support (local)",
        "staging": "Acme Support (staging)",
    }
    assert data["summary"]["onlyIn_staging"] == 1
    text = multi.run("diff-env", "local", "staging", env=None).output
    assert "    agentSettings.webhooks[0].secret: (sensitive, differs)" in text
    assert "+ phone-number.main-line (numbers/main-line.yaml): only in staging" in text
    assert "local-only-support-secret" not in text + result.output
    # With the variable set, both environments send the same value: no difference.
    monkeypatch.setenv("SUPPORT_WEBHOOK_SECRET", "same-everywhere-1234")
    again = multi.run("diff-env", "local", "staging", env=None).output
    assert "webhooks[0].secret" not in again
    assert "same-everywhere-1234" not in again


def test_diff_env_detailed_exitcode(multi: MultiEnv) -> None:
    differ = multi.run("diff-env", "staging", "prod", "--detailed-exitcode", env=None)
    assert differ.exit_code == 2
    for name in ("support", "receptionist", "appointment-reminder"):
        multi.edit(f"agents/{name}.yaml", "${var.suffix}", "")
    multi.edit("agents/support.yaml", "llmModel: gpt-4o   ", "llmModel: gpt-4o-mini")
    multi.edit(
        "sigmaform.yaml", '"https://hooks.staging.acme.example"', '"https://hooks.acme.example"'
    )
    multi.edit("numbers/main-line.yaml", '"+14155550124"', '"+14155550123"')
    same = multi.run("diff-env", "staging", "prod", "--detailed-exitcode", env=None)
    assert same.exit_code == 0, same.output
    assert "  identical: agent.appointment-reminder, agent.receptionist" in same.output
    assert "0 differ, 4 identical" in same.output


def test_diff_env_errors(multi: MultiEnv) -> None:
    twice = multi.run("diff-env", "prod", "prod", env=None)
    assert twice.exit_code == 1
    assert "diff-env needs two different environments, got `prod` twice" in twice.output
    unknown = multi.run("diff-env", "staging", "qa", env=None)
    assert unknown.exit_code == 1
    assert "unknown environment `qa`" in unknown.output


def test_sigmamind_base_url_overrides_every_environment(
    multi: MultiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (multi.root / "sigmaform.yaml").read_text()
    (multi.root / "sigmaform.yaml").write_text(
        text.replace(f"baseUrl: {multi.base_url}", "baseUrl: https://api.sigmamind.ai")
    )
    monkeypatch.setenv("SIGMAMIND_BASE_URL", multi.base_url)
    result = multi.run("apply", "--auto-approve", env="prod")
    assert result.exit_code == 0, result.output
    assert "Acme Support" in multi.agents(PROD_KEY)


def test_diff_env_text_summarises_long_text() -> None:
    from sigmaform.envdiff import diff_environments, diff_text
    from sigmaform.resource import Resource

    a = Resource("Agent", "x", {"instructions": "one\ntwo\n", "n": 1}, "agents/x.yaml")
    b = Resource("Agent", "x", {"instructions": "one\ntwo\nthree\n"}, "agents/x.yaml")
    text = diff_text(diff_environments([a], [b], "staging", "prod"))
    assert "    instructions: (text, 2 lines) -> (text, 3 lines)" in text
    assert "    n: 1 -> (absent)" in text
