"""`apply --format json` and `promote --apply --format json`: JSON lines, per the schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from conftest import Project
from multienv import PROD_KEY, MultiEnv, multi

__all__ = ["multi"]  # the fixture, imported for pytest

SCHEMA = json.loads(
    (Path(__file__).parent.parent / "schemas" / "apply-event.schema.json").read_text()
)


def events(stdout: str) -> list[dict[str, Any]]:
    """Every stdout line parsed and checked against the schema."""
    lines = stdout.splitlines()
    assert lines, "no output"
    parsed = [json.loads(line) for line in lines]
    for event in parsed:
        jsonschema.validate(event, SCHEMA)
    return parsed


def test_a_successful_apply_streams_one_line_per_resource(example: Project) -> None:
    result = example.run("apply", "--auto-approve", "--format", "json")
    assert result.exit_code == 0, result.output
    parsed = events(result.stdout)
    assert parsed[0]["type"] == "plan" and parsed[0]["pending"] == 3
    resources = [e for e in parsed if e["type"] == "resource"]
    assert len(resources) == 3
    state = example.state()["resources"]
    for event in resources:
        assert (event["action"], event["outcome"]) == ("create", "created")
        assert event["id"] == state[event["address"]]["id"]  # the new remote id
        assert "error" not in event
    assert parsed[-1] == {
        "type": "summary",
        "formatVersion": 1,
        "environment": "local",
        "outcome": "applied",
        "counts": {"created": 3},
        "failed": [],
    }
    assert "local-only-support-secret" not in result.output


def test_nothing_to_do_is_a_plan_and_a_summary(example: Project) -> None:
    assert example.run("apply", "--auto-approve").exit_code == 0
    result = example.run("apply", "--auto-approve", "--format", "json")
    assert result.exit_code == 0, result.output
    parsed = events(result.stdout)
    assert [e["type"] for e in parsed] == ["plan", "summary"]
    assert parsed[-1]["outcome"] == "no-changes"


def test_a_failed_resource_has_its_error_and_the_summary_fails(example: Project) -> None:
    with example.api() as api:
        helper = api.post("/v1/agents", json={"agentName": "Helper"}).json()
        made = api.post("/v1/chats", json={"agentId": helper["agentId"], "input": "Hi"})
    chat_id = made.json()["chatId"]
    (example.root / "agents" / "chat.yaml").write_text(
        f"kind: Chat\nname: demo\nspec:\n  chatId: {chat_id}\n  agent: support\n"
    )
    out = example.root / "plan.json"
    # Not refreshed, so the apply does not read the chat again before writing it.
    assert example.run("plan", "--no-refresh", "--out", str(out)).exit_code == 0
    # The chat ends between plan and apply: its PATCH fails, the agents still go ahead.
    with example.api() as api:
        assert api.post(f"/v1/chats/{chat_id}/end").status_code == 200
    result = example.run("apply", str(out), "--format", "json")
    assert result.exit_code == 1, result.output
    parsed = events(result.stdout)
    by_address = {e["address"]: e for e in parsed if e["type"] == "resource"}
    failed = by_address["chat.demo"]
    assert (failed["action"], failed["outcome"], failed["id"]) == ("create", "failed", chat_id)
    assert f"PATCH /v1/chats/{chat_id} -> 409" in failed["error"]
    assert by_address["agent.support"]["outcome"] == "created"
    summary = parsed[-1]
    assert summary["outcome"] == "failed"
    assert summary["failed"] == ["chat.demo"]
    assert summary["counts"] == {"created": 3, "failed": 1}
    assert "chat.demo: PATCH" in result.stderr  # for people reading CI logs


def test_json_without_auto_approve_is_refused_before_any_request(example: Project) -> None:
    result = example.run("apply", "--format", "json")
    assert result.exit_code == 1
    assert "--format json prints JSON lines only" in result.output
    assert "pass --auto-approve" in result.output
    assert example.journal() == []


def test_a_saved_plan_applies_with_json_lines(example: Project) -> None:
    out = example.root / "plan.json"
    assert example.run("plan", "--out", str(out)).exit_code == 0
    result = example.run("apply", str(out), "--format", "json")
    assert result.exit_code == 0, result.output
    assert events(result.stdout)[-1]["outcome"] == "applied"


def test_promote_apply_streams_json_lines(multi: MultiEnv) -> None:
    assert multi.run("apply", "--auto-approve").exit_code == 0
    result = multi.run(
        "promote", "--to", "prod", "--apply", "--auto-approve", "--format", "json", env=None
    )
    assert result.exit_code == 0, result.output
    parsed = events(result.stdout)
    assert parsed[0]["environment"] == "prod"
    assert parsed[-1]["outcome"] == "applied"
    assert "Promotion gate passed" in result.stderr
    assert len(multi.agents(PROD_KEY)) == 3
    assert parsed[-1]["counts"] == {"adopted": 1, "created": 3}


def test_the_schema_tells_the_events_apart() -> None:
    resource = {
        "type": "resource",
        "formatVersion": 1,
        "address": "agent.a",
        "action": "create",
        "id": None,
        "outcome": "created",
    }
    jsonschema.validate(resource, SCHEMA)
    for bad in (
        {**resource, "counts": {}},  # a summary field on a resource line
        {**resource, "outcome": "applied"},  # a summary outcome
        {k: v for k, v in resource.items() if k != "id"},
        {"type": "summary", "formatVersion": 1, "environment": "x", "outcome": "created"},
    ):
        assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(bad), bad
