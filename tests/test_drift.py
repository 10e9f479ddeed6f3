"""`sigmaform drift` through the real CLI: changes made by another API client, then restored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import Project


def applied(example: Project) -> dict[str, str]:
    result = example.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    return {a: r["id"] for a, r in example.state()["resources"].items()}


def patch(example: Project, agent_id: str, body: dict[str, Any]) -> dict[str, Any]:
    with example.api() as api:
        response = api.patch(f"/v1/agents/{agent_id}", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def get(example: Project, agent_id: str) -> dict[str, Any]:
    with example.api() as api:
        result: dict[str, Any] = api.get(f"/v1/agents/{agent_id}").json()
    return result


def edit_outside(example: Project, agent_id: str) -> str:
    """Change a setting and the prompt as another client would; return the old prompt."""
    old = get(example, agent_id)["instructions"]
    lines = old.splitlines()
    lines[2] = "You are Acme's phone support agent. You now also sell upgrades."
    patch(
        example,
        agent_id,
        {"instructions": "\n".join(lines) + "\n", "agentSettings": {"llmTemperature": 0.9}},
    )
    return str(old)


def test_drift_found_restored_by_apply_then_gone(example: Project) -> None:
    ids = applied(example)
    assert example.run("drift").exit_code == 0
    old_prompt = edit_outside(example, ids["agent.support"])

    before = len(example.journal())
    result = example.run("drift")
    assert result.exit_code == 2, result.output
    out = result.output
    assert "Changed outside sigmaform (last applied -> remote now):" in out
    assert f"! agent.support  (Agent, id {ids['agent.support']})" in out
    assert "agentSettings.llmTemperature: 0.3 -> 0.9" in out
    assert "instructions:" in out
    assert "+You are Acme's phone support agent. You now also sell upgrades." in out
    assert "-You are Acme's phone support agent." in out  # the old line, as a line diff
    assert "agent.receptionist" not in out  # only what drifted
    assert "Drift: 1 changed outside sigmaform, 0 deleted outside sigmaform, 2 unchanged." in out
    # drift only reads.
    assert all(e["method"] == "GET" for e in example.journal()[before:])

    restored = example.run("apply", "--auto-approve")
    assert restored.exit_code == 0, restored.output
    assert get(example, ids["agent.support"])["instructions"] == old_prompt
    assert get(example, ids["agent.support"])["agentSettings"]["llmTemperature"] == 0.3
    again = example.run("drift")
    assert again.exit_code == 0, again.output
    assert "No drift." in again.output


def test_drift_json_matches_its_schema(example: Project, repo_root: Path) -> None:
    schema = json.loads((repo_root / "schemas" / "drift.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    ids = applied(example)
    clean = json.loads(example.run("drift", "--format", "json").output)
    validator.validate(clean)
    assert clean["summary"] == {"changed": 0, "gone": 0, "unchanged": 3, "possibleDuplicates": 0}
    assert clean["resources"] == []

    edit_outside(example, ids["agent.support"])
    with example.api() as api:
        assert api.delete(f"/v1/agents/{ids['agent.receptionist']}").status_code == 204
    result = example.run("drift", "--format", "json")
    assert result.exit_code == 2
    data = json.loads(result.output)
    validator.validate(data)
    assert data["environment"] == "local" and data["checked"] == 3
    assert data["summary"] == {"changed": 1, "gone": 1, "unchanged": 1, "possibleDuplicates": 0}
    by_address = {r["address"]: r for r in data["resources"]}
    assert by_address["agent.receptionist"]["status"] == "gone"
    support = by_address["agent.support"]
    assert support["status"] == "changed" and support["id"] == ids["agent.support"]
    changes = {c["path"]: c for c in support["changes"]}
    assert changes["agentSettings.llmTemperature"]["before"] == 0.3
    assert changes["agentSettings.llmTemperature"]["after"] == 0.9
    assert "sell upgrades" in changes["instructions"]["after"]


def test_secret_changed_remotely_is_masked(example: Project) -> None:
    ids = applied(example)
    hook = get(example, ids["agent.support"])["agentSettings"]["webhooks"][0]
    patch(
        example,
        ids["agent.support"],
        {"agentSettings": {"webhooks": [{**hook, "secret": "stolen-and-rotated"}]}},
    )
    for fmt in ("text", "json", "markdown"):
        result = example.run("drift", "--format", fmt)
        assert result.exit_code == 2
        assert "stolen-and-rotated" not in result.output
        assert "local-only-support-secret" not in result.output
    text = example.run("drift").output
    assert "[0].secret: (sensitive, changed)" in text


def test_drift_markdown_and_gone_resource(example: Project) -> None:
    ids = applied(example)
    edit_outside(example, ids["agent.support"])
    with example.api() as api:
        api.delete(f"/v1/agents/{ids['agent.receptionist']}")
    md = example.run("drift", "--format", "markdown")
    assert md.exit_code == 2
    out = md.output
    assert out.startswith("### sigmaform drift: `local`")
    assert "| `agent.receptionist` |" in out and "deleted outside sigmaform" in out
    assert "| `agentSettings.llmTemperature` | `0.3` | `0.9` |" in out
    assert "```diff" in out and "+You are Acme's phone support agent. You now also" in out
    text = example.run("drift").output
    assert f"deleted outside sigmaform: `{example.command('apply')}` will create it again" in text
    assert f"Run `{example.command('plan')}` to review, `{example.command('apply')}` to" in text


def test_target_limits_what_is_read(example: Project) -> None:
    ids = applied(example)
    edit_outside(example, ids["agent.support"])
    before = len(example.journal())
    other = example.run("drift", "--target", "Agent.receptionist")
    assert other.exit_code == 0, other.output
    assert "(1 managed resource read)" in other.output
    reads = example.journal()[before:]
    # The listing (for possible duplicates), then the one targeted agent.
    assert [e["path"] for e in reads] == ["/v1/agents", f"/v1/agents/{ids['agent.receptionist']}"]
    assert example.run("drift", "--target", "agent.support").exit_code == 2


def test_nothing_applied_yet_is_no_drift(example: Project) -> None:
    result = example.run("drift")
    assert result.exit_code == 0
    assert "Nothing is managed yet in this environment" in result.output


def test_drift_needs_no_secrets(example: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    applied(example)
    example.edit("sigmaform.yaml", "SUPPORT_WEBHOOK_SECRET: local-only-support-secret", "")
    assert "SUPPORT_WEBHOOK_SECRET" in example.run("plan").output  # plan needs it
    result = example.run("drift")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--target", "nonsense"), "--target 'nonsense': expected KIND.NAME"),
        (("--format", "yaml"), "Invalid value for '--format'"),
    ],
)
def test_bad_options(example: Project, args: tuple[str, ...], message: str) -> None:
    result = example.run("drift", *args)
    assert result.exit_code in (1, 2)  # ours exit 1; click usage errors exit 2
    assert message in result.output


def test_unreadable_state_exits_1(example: Project) -> None:
    applied(example)
    (example.root / ".sigmaform" / "state" / "local.json").write_text("{not json")
    result = example.run("drift")
    assert result.exit_code == 1
    assert result.output.startswith("Error: .sigmaform/state/local.json:1:2: invalid JSON")
