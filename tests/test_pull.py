"""`pull`: dashboard edits made over HTTP come back into the files; then the plan is clean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import Project
from multienv import PROD_KEY, STAGING_KEY, STAGING_NUMBER, SUPPORT_SECRET, MultiEnv, multi
from test_docs import conforms

__all__ = ["multi"]

SUPPORT = "agents/support.yaml"
PROMPT = "agents/prompts/support.md"
NEW_PROMPT = "# Role\n\nYou are Acme's support agent, as edited in the dashboard.\n"
NEW_WELCOME = "Hello from the dashboard, {{customer_name}}!"


def applied(project: Project) -> str:
    result = project.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    return str(project.state()["resources"]["agent.support"]["id"])


def patch(api: Any, agent_id: str, body: dict[str, Any]) -> None:
    response = api.patch(f"/v1/agents/{agent_id}", json=body)
    assert response.status_code == 200, response.text


def dashboard_edit(api: Any, agent_id: str) -> None:
    patch(
        api,
        agent_id,
        {
            "welcomeMessage": NEW_WELCOME,
            "instructions": NEW_PROMPT,
            "agentSettings": {"llmTemperature": 0.7},
        },
    )


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.splitlines(), after.splitlines()
    assert len(old) == len(new), "pull added or removed lines"
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def test_pull_brings_dashboard_edits_back_and_the_plan_is_clean(example: Project) -> None:
    agent_id = applied(example)
    before = (example.root / SUPPORT).read_text()
    with example.api() as api:
        dashboard_edit(api, agent_id)
    assert example.run("plan", "--detailed-exitcode").exit_code == 2
    journal = len(example.journal())

    result = example.run("pull")
    assert result.exit_code == 2, result.output
    assert f"~ agent.support: welcomeMessage -> {SUPPORT}" in result.output
    assert f"~ agent.support: agentSettings.llmTemperature -> {SUPPORT}" in result.output
    assert f"~ agent.support: instructions -> {PROMPT}" in result.output
    assert example.writes(journal) == []  # pull reads the API, never writes to it

    after = (example.root / SUPPORT).read_text()
    # Comments, order and quoting stay; only the pulled values' lines change.
    assert changed_lines(before, after) == [
        (
            '  welcomeMessage: "Hi, this is Acme. How can I help you today, {{customer_name}}?"',
            f'  welcomeMessage: "{NEW_WELCOME}"',
        ),
        ("    llmTemperature: 0.3", "    llmTemperature: 0.7"),
    ]
    assert (example.root / PROMPT).read_text() == NEW_PROMPT
    assert example.run("plan", "--detailed-exitcode").exit_code == 0
    again = example.run("pull")
    assert again.exit_code == 0, again.output
    assert "Nothing to pull" in again.output


def test_dry_run_prints_the_diff_and_writes_nothing(example: Project) -> None:
    agent_id = applied(example)
    files = {
        p: p.read_text()
        for p in example.root.rglob("*")
        if ".sigmaform" not in p.parts and p.is_file()
    }
    with example.api() as api:
        dashboard_edit(api, agent_id)
    result = example.run("pull", "--dry-run")
    assert result.exit_code == 2, result.output
    assert f"--- a/{SUPPORT}\n+++ b/{SUPPORT}\n" in result.output
    assert "-    llmTemperature: 0.3\n+    llmTemperature: 0.7\n" in result.output
    assert f"--- a/{PROMPT}\n" in result.output
    assert "+You are Acme's support agent, as edited in the dashboard.\n" in result.output
    assert "Would write 2 file(s)" in result.output
    assert {p: p.read_text() for p in files} == files


def test_json_lists_each_change(example: Project) -> None:
    agent_id = applied(example)
    with example.api() as api:
        dashboard_edit(api, agent_id)
    result = example.run("pull", "--format", "json", "--dry-run")
    assert result.exit_code == 2, result.output
    report = conforms("pull", result.output)
    assert report["changed"] is True and report["dryRun"] is True
    assert report["files"] == [SUPPORT, PROMPT]
    assert {(v["path"], v["file"], v["outcome"]) for v in report["values"]} == {
        ("agentSettings.llmTemperature", SUPPORT, "written"),
        ("instructions", PROMPT, "written"),
        ("welcomeMessage", SUPPORT, "written"),
    }


def test_a_value_built_from_a_variable_is_reported_and_left(example: Project) -> None:
    agent_id = applied(example)
    before = (example.root / SUPPORT).read_text()
    with example.api() as api:
        patch(api, agent_id, {"agentName": "Renamed in the dashboard"})
    result = example.run("pull")
    assert result.exit_code == 0, result.output
    assert (
        "! agent.support: agentName left alone: built from `Acme Support${var.suffix}`"
        in result.output
    )
    assert "No file to change" in result.output
    assert (example.root / SUPPORT).read_text() == before
    as_json = json.loads(example.run("pull", "--format", "json").output)
    assert as_json["values"] == [
        {
            "address": "agent.support",
            "path": "agentName",
            "file": SUPPORT,
            "outcome": "left",
            "reason": "built from `Acme Support${var.suffix}` in the file: left as written",
        }
    ]


def test_secrets_are_never_written_and_expressions_inside_lists_stay(multi: MultiEnv) -> None:
    assert multi.run("apply", "--auto-approve").exit_code == 0
    agent = multi.agents(STAGING_KEY)["Acme Support (staging)"]
    rotated = "whsec-rotated-in-dashboard-77"
    hook = agent["agentSettings"]["webhooks"][0]
    with multi.api(STAGING_KEY) as api:
        patch(
            api,
            agent["agentId"],
            {
                "agentSettings": {
                    "webhooks": [
                        {
                            **hook,
                            "secret": rotated,
                            "events": ["conversation_ended"],
                            "url": "https://elsewhere.example/hook",
                        }
                    ]
                }
            },
        )
    result = multi.run("pull")
    assert result.exit_code == 2, result.output
    text = (multi.root / SUPPORT).read_text()
    assert "        events: [conversation_ended]\n" in text
    # The url is built from ${var.webhook_base}; the secret from ${secret...}: both stay.
    assert 'url: "${var.webhook_base}/sigmamind/support"' in text
    assert 'secret: "${secret.SUPPORT_WEBHOOK_SECRET}"' in text
    assert "agentSettings.webhooks[0].url left alone" in result.output
    assert "agentSettings.webhooks[0].secret left alone: a secret" in result.output
    for path in multi.written_files():
        content = path.read_bytes()
        assert rotated.encode() not in content, path
        assert SUPPORT_SECRET.encode() not in content, path
    assert rotated not in result.output and SUPPORT_SECRET not in result.output


def plan_text(multi: MultiEnv, env: str) -> tuple[int, str]:
    result = multi.run("plan", "--detailed-exitcode", env=env)
    return result.exit_code, result.output


def test_env_only_writes_the_override_and_other_environments_plans_stay(
    multi: MultiEnv,
) -> None:
    for env in ("staging", "prod"):
        assert multi.run("apply", "--auto-approve", env=env).exit_code == 0
    prod_before = plan_text(multi, "prod")
    assert prod_before[0] == 0
    base = (multi.root / SUPPORT).read_text()
    agent = multi.agents(STAGING_KEY)["Acme Support (staging)"]
    with multi.api(STAGING_KEY) as api:
        dashboard_edit(api, agent["agentId"])

    result = multi.run("pull", "--env-only")
    assert result.exit_code == 2, result.output
    assert plan_text(multi, "staging")[0] == 0
    assert plan_text(multi, "prod") == prod_before
    text = (multi.root / SUPPORT).read_text()
    # The base spec is as it was; staging's override holds the pulled values.
    assert text.startswith(base.split("environments:\n")[0])
    override = text.split("environments:\n")[1]
    assert "  staging:\n" in override
    assert f'    welcomeMessage: "{NEW_WELCOME}"' in override
    assert "      llmTemperature: 0.7\n" in override
    assert "    instructions: !file prompts/support.staging.md\n" in override
    assert (multi.root / "agents/prompts/support.staging.md").read_text() == NEW_PROMPT
    assert "llmModel: gpt-4o      " in override or "llmModel: gpt-4o " in override


def test_default_target_is_the_base_so_other_environments_plan_the_change(
    multi: MultiEnv,
) -> None:
    for env in ("staging", "prod"):
        assert multi.run("apply", "--auto-approve", env=env).exit_code == 0
    agent = multi.agents(STAGING_KEY)["Acme Support (staging)"]
    with multi.api(STAGING_KEY) as api:
        dashboard_edit(api, agent["agentId"])
    assert multi.run("pull").exit_code == 2
    assert plan_text(multi, "staging")[0] == 0
    code, output = plan_text(multi, "prod")
    assert code == 2
    assert "welcomeMessage" in output and "llmTemperature" in output


def test_a_field_this_environment_overrides_is_updated_in_its_override(
    multi: MultiEnv,
) -> None:
    assert multi.run("apply", "--auto-approve", env="prod").exit_code == 0
    agent = multi.agents(PROD_KEY)["Acme Support"]
    with multi.api(PROD_KEY) as api:
        patch(api, agent["agentId"], {"agentSettings": {"llmModel": "gpt-4.1"}})
    result = multi.run("pull", env="prod")
    assert result.exit_code == 2, result.output
    text = (multi.root / SUPPORT).read_text()
    assert "    llmModel: gpt-4o-mini\n" in text  # the base, for every other environment
    assert "      llmModel: gpt-4.1           # the larger model only where" in text
    assert plan_text(multi, "prod")[0] == 0


def test_a_local_edit_not_applied_yet_is_not_reverted(example: Project) -> None:
    applied(example)
    example.edit(SUPPORT, "llmTemperature: 0.3", "llmTemperature: 0.5")
    edited = (example.root / SUPPORT).read_text()
    result = example.run("pull")
    assert result.exit_code == 0, result.output
    assert (example.root / SUPPORT).read_text() == edited


def test_include_undeclared_adds_fields_the_files_do_not_declare(example: Project) -> None:
    agent_id = applied(example)
    with example.api() as api:
        patch(api, agent_id, {"agentSettings": {"ttsSpeed": 1.2}})
    assert example.run("pull").exit_code == 0  # only declared fields, by default
    result = example.run("pull", "--include-undeclared", "--target", "Agent.support")
    assert result.exit_code == 2, result.output
    text = (example.root / SUPPORT).read_text()
    settings = text.split("  agentSettings:\n")[1]
    # Placed where the schema orders it: after voiceModelId, before ivrHangup.
    assert "    voiceModelId: eleven_turbo_v2_5\n    ttsSpeed: 1.2\n" in settings
    assert example.run("plan", "--detailed-exitcode").exit_code == 0
    assert example.run("fmt", "--check").exit_code == 0


def test_pull_needs_the_remote_and_reports_usage_errors(example: Project) -> None:
    result = example.run("pull", "--target", "nonsense")
    assert result.exit_code == 1
    assert "--target 'nonsense': expected KIND.NAME" in result.output


def test_plan_does_not_import_the_round_trip_yaml_library(example: Project) -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from sigmaform.cli import cli\n"
        f"r = CliRunner().invoke(cli, ['-C', {str(example.root)!r}, '-e', 'local', 'plan'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in sys.modules if m.startswith('ruamel')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=Path.cwd()
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_number_routed_elsewhere_pulls_the_agent_name_or_reports_an_unmanaged_one(
    multi: MultiEnv,
) -> None:
    assert multi.run("apply", "--auto-approve").exit_code == 0
    agents = multi.agents(STAGING_KEY)
    number = "numbers/main-line.yaml"
    with multi.api(STAGING_KEY) as api:
        outsider = api.post("/v1/agents", json={"agentName": "Made in the dashboard"}).json()
        routed = {"outboundAgentId": agents["Acme Receptionist (staging)"]["agentId"]}
        assert api.patch(f"/v1/phone-numbers/{STAGING_NUMBER}", json=routed).status_code == 200
    result = multi.run("pull")
    assert result.exit_code == 2, result.output
    assert "  outboundAgent: receptionist\n" in (multi.root / number).read_text()
    assert plan_text(multi, "staging")[0] == 0

    with multi.api(STAGING_KEY) as api:
        routed = {"outboundAgentId": outsider["agentId"]}
        assert api.patch(f"/v1/phone-numbers/{STAGING_NUMBER}", json=routed).status_code == 200
    result = multi.run("pull")
    assert result.exit_code == 0, result.output
    assert (
        f"! phone-number.main-line: outboundAgent left alone: the remote names agent "
        f"{outsider['agentId']}, which sigmaform does not manage" in result.output
    )
    assert "  outboundAgent: receptionist\n" in (multi.root / number).read_text()
