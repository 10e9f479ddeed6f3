"""`sigmaform render`: the configuration as one environment sees it, offline, no secret."""

from __future__ import annotations

import json

import pytest
from conftest import Project

SECRETS = ("local-only-support-secret", "local-only-reminder-secret")


def test_render_json_parses_and_holds_no_secret(example: Project) -> None:
    result = example.run("render", "--format", "json", env="local")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["environment"] == "local"
    addresses = [r["address"] for r in data["resources"]]
    # `only: [staging, prod]` leaves the phone number out of local.
    assert addresses == ["agent.appointment-reminder", "agent.receptionist", "agent.support"]
    support = data["resources"][2]
    assert support["spec"]["agentName"] == "Acme Support (local)"  # vars applied
    assert support["spec"]["instructions"].startswith("#")  # !file inlined
    hook = support["spec"]["agentSettings"]["webhooks"][0]
    assert hook["secret"] == "(sensitive)"
    assert hook["url"] == "https://hooks.local.example/sigmamind/support"
    assert not any(secret in result.output for secret in SECRETS)
    assert not example.journal()  # no request, not even a read


def test_render_applies_overrides_and_needs_no_api_key_or_secret(example: Project) -> None:
    # prod needs SIGMAMIND_API_KEY_PROD and SUPPORT_WEBHOOK_SECRET to plan: render neither.
    result = example.run("render", "--format", "json", env="prod")
    assert result.exit_code == 0, result.output
    by_address = {r["address"]: r for r in json.loads(result.stdout)["resources"]}
    assert by_address["agent.support"]["spec"]["agentSettings"]["llmModel"] == "gpt-4o"
    assert by_address["phone-number.main-line"]["spec"]["phoneNumber"] == "+14155550123"
    staging = json.loads(example.run("render", "--format", "json", env="staging").stdout)
    line = next(r for r in staging["resources"] if r["address"] == "phone-number.main-line")
    assert line["spec"]["phoneNumber"] == "+14155550124"


def test_a_set_secret_is_masked_too(example: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_WEBHOOK_SECRET", "s3cr3t-value-from-env")
    for fmt in ("json", "yaml"):
        result = example.run("render", "--format", fmt, env="prod")
        assert result.exit_code == 0, result.output
        assert "s3cr3t-value-from-env" not in result.output
        assert "(sensitive)" in result.output


def test_targets_filter_and_take_in_references(example: Project) -> None:
    result = example.run(
        "render", "--format", "json", "--target", "PhoneNumber.main-line", env="staging"
    )
    assert result.exit_code == 0, result.output
    addresses = [r["address"] for r in json.loads(result.stdout)["resources"]]
    assert addresses == ["agent.support", "phone-number.main-line"]  # and its agent
    only = example.run("render", "--format", "json", "--target", "agent.receptionist")
    assert [r["address"] for r in json.loads(only.stdout)["resources"]] == ["agent.receptionist"]


def test_yaml_is_the_default_and_reads_back_as_the_json(example: Project) -> None:
    import yaml

    as_yaml = example.run("render")
    as_json = example.run("render", "--format", "json")
    assert as_yaml.exit_code == 0, as_yaml.output
    assert yaml.safe_load(as_yaml.stdout) == json.loads(as_json.stdout)


def test_an_unknown_target_is_refused(example: Project) -> None:
    result = example.run("render", "--target", "agent.suport")
    assert result.exit_code == 1
    assert "--target agent.suport: no such resource" in result.output
    assert "did you mean agent.support" in result.output


def test_fmt_never_changes_what_render_prints(example: Project) -> None:
    # Out of the canonical order: `spec` before the flags, settings shuffled, odd indentation.
    example.edit("agents/support.yaml", "protect: true", "protect:    true")
    text = (example.root / "agents" / "support.yaml").read_text()
    head, spec = text.split("spec:\n", 1)
    body, environments = spec.split("environments:\n", 1)
    (example.root / "agents" / "support.yaml").write_text(
        "spec:\n" + body + head + "environments:\n" + environments
    )
    before = {
        env: example.run("render", "--format", "json", env=env).stdout
        for env in ("local", "staging", "prod")
    }
    formatted = example.run("fmt")
    assert formatted.exit_code == 0, formatted.output
    after = (example.root / "agents" / "support.yaml").read_text()
    assert after.index("kind: Agent") < after.index("spec:")  # fmt did reorder it
    for env, rendered in before.items():
        assert example.run("render", "--format", "json", env=env).stdout == rendered
