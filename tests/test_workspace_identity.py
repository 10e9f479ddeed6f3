"""A key of another workspace, agents deleted in the dashboard, and namesakes on re-create.

Through the real CLI against the emulator: in process (`local:`) and over a loopback
socket (the `multi` fixture: staging and prod are two workspaces of one emulator).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import Project
from multienv import PROD_KEY, STAGING_KEY, MultiEnv, multi  # noqa: F401  (fixture)
from test_apply_rails import make

KEY_A = "sk-workspace-a-5e1d"
KEY_B = "sk-workspace-b-93c0"
SERVER_OWNED = ("agentId", "createdAt", "updatedAt", "status")


def use_key(example: Project, monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    """Give the local environment a key of its own (each key is an emulator workspace)."""
    config = example.root / "sigmaform.yaml"
    text = config.read_text()
    if "apiKeyEnv: LOCAL_KEY" not in text:
        example.edit(
            "sigmaform.yaml",
            '    baseUrl: "local:.sigmaform/emulator"\n',
            '    baseUrl: "local:.sigmaform/emulator"\n    apiKeyEnv: LOCAL_KEY\n',
        )
    monkeypatch.setenv("LOCAL_KEY", key)


def agents_of(example: Project, key: str) -> list[dict[str, Any]]:
    with example.api(key) as api:
        body = api.get("/v1/agents", params={"page": 0, "size": 100}).json()
    return list(body["data"])


def workspace_of(example: Project, key: str) -> str:
    with example.api(key) as api:
        return str(api.get("/v1/webhooks").json()["data"][0]["workspaceId"])


def test_wrong_key_is_refused_before_anything_is_sent_and_allow_recreate_proceeds(
    example: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_key(example, monkeypatch, KEY_A)
    assert example.run("apply", "--auto-approve").exit_code == 0
    ws_a = workspace_of(example, KEY_A)
    assert example.state()["workspace"] == ws_a  # the API said which workspace, once
    schema = json.loads(
        (Path(__file__).parent.parent / "schemas" / "state.schema.json").read_text()
    )
    jsonschema.Draft202012Validator(schema).validate(example.state())

    monkeypatch.setenv("LOCAL_KEY", KEY_B)
    before = len(example.journal())
    for args in (("plan",), ("plan", "--format", "json"), ("apply", "--auto-approve")):
        refused = example.run(*args)
        assert refused.exit_code == 3, refused.output
        assert refused.stdout == ""
        assert (
            "environment `local`: 3 of 3 managed resources are missing remotely "
            "(agent.appointment-reminder, agent.receptionist, agent.support) "
            "with the API key from LOCAL_KEY" in refused.output
        )
        assert "again with --allow-recreate. Nothing was sent." in refused.output
        assert KEY_A not in refused.output and KEY_B not in refused.output
    assert example.writes(before) == []
    assert {e["method"] for e in example.journal()[before:]} == {"GET"}
    assert agents_of(example, KEY_B) == []

    # On purpose: the plan says what will be re-created, apply does it, state follows.
    data = json.loads(example.run("plan", "--allow-recreate", "--format", "json").stdout)
    assert (data["summary"]["create"], data["summary"]["unchanged"]) == (3, 0)
    plan = example.run("plan", "--allow-recreate", "--detailed-exitcode")
    assert plan.exit_code == 2
    assert "note: deleted outside sigmaform: it will be created again" in plan.output
    assert "Plan: 3 to create, 0 to update, 0 to delete, 0 unchanged." in plan.output
    done = example.run("apply", "--auto-approve", "--allow-recreate")
    assert done.exit_code == 0, done.output
    assert len(agents_of(example, KEY_B)) == 3
    assert len(agents_of(example, KEY_A)) == 3  # the other workspace is untouched
    ws_b = workspace_of(example, KEY_B)
    assert example.state()["workspace"] == ws_b
    assert example.run("plan", "--detailed-exitcode").exit_code == 0

    # Back to the first key: that workspace names itself, and a mismatch is always refused.
    monkeypatch.setenv("LOCAL_KEY", KEY_A)
    before = len(example.journal())
    wrong = example.run("apply", "--auto-approve", "--allow-recreate")
    assert wrong.exit_code == 3
    assert (
        f"environment `local`: the API key from LOCAL_KEY belongs to workspace {ws_a}, but "
        f"this environment's state was applied in workspace {ws_b}; set LOCAL_KEY to a key "
        f"of {ws_b}" in wrong.output
    )
    assert KEY_A not in wrong.output
    assert example.writes(before) == []
    assert len(agents_of(example, KEY_A)) == 3


def test_wrong_key_over_a_socket_names_the_environment_and_variable(
    multi: MultiEnv,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert multi.run("apply", "--auto-approve").exit_code == 0
    assert multi.state("staging")["workspace"].startswith("org_")
    monkeypatch.setenv("SIGMAMIND_API_KEY_STAGING", PROD_KEY)  # a key of the prod workspace
    multi.app.journal.clear()
    for args in (("plan",), ("apply", "--auto-approve")):
        refused = multi.run(*args)
        assert refused.exit_code == 3, refused.output
        assert (
            "environment `staging`: 4 of 4 managed resources are missing remotely" in refused.output
        )
        assert "with the API key from SIGMAMIND_API_KEY_STAGING" in refused.output
        assert PROD_KEY not in refused.output and STAGING_KEY not in refused.output
    assert {e.method for e in multi.app.journal.entries} == {"GET"}
    assert multi.agents(PROD_KEY) == {}
    # --allow-recreate cannot conjure the staging number in the prod workspace: exit 1.
    number = multi.run("plan", "--allow-recreate")
    assert number.exit_code == 1
    assert "phone-number.main-line: PhoneNumber +14155550124 does not exist" in number.output


@pytest.mark.parametrize(
    ("total", "deleted", "refused"),
    [(1, 1, True), (3, 2, False), (3, 3, True), (4, 2, False), (5, 3, True)],
)
def test_missing_share_that_is_refused(
    tmp_path: Path, total: int, deleted: int, refused: bool
) -> None:
    project = make(tmp_path, total, percent=100)
    assert project.run("apply", "--auto-approve").exit_code == 0
    ids = [r["id"] for _, r in sorted(project.state()["resources"].items())]
    with project.api() as api:
        for agent_id in ids[:deleted]:
            assert api.delete(f"/v1/agents/{agent_id}").status_code == 204
    result = project.run("plan", "--detailed-exitcode")
    if refused:
        assert result.exit_code == 3
        assert f"{deleted} of {total} managed resources are missing remotely" in result.output
    else:
        assert result.exit_code == 2, result.output
        assert f"Plan: {deleted} to create, 0 to update" in result.output


def test_re_creates_count_for_max_change_percent(tmp_path: Path) -> None:
    project = make(tmp_path, 10, percent=30)
    assert project.run("apply", "--auto-approve").exit_code == 0
    ids = [r["id"] for _, r in sorted(project.state()["resources"].items())]
    with project.api() as api:
        for agent_id in ids[:4]:
            assert api.delete(f"/v1/agents/{agent_id}").status_code == 204
    before = len(project.journal())
    refused = project.run("apply", "--auto-approve")
    assert refused.exit_code == 3
    assert "4 of 10 managed resources would change (40%)" in refused.output
    assert project.writes(before) == []
    done = project.run("apply", "--auto-approve", "--force")
    assert done.exit_code == 0, done.output
    assert len(project.agents()) == 10
    assert project.run("plan", "--detailed-exitcode").exit_code == 0


def _recreate_body(agent: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in agent.items() if k not in SERVER_OWNED}
    hooks = body["agentSettings"].get("webhooks") or []
    body["agentSettings"]["webhooks"] = [
        {k: v for k, v in h.items() if k not in ("webhookId", "active")} for h in hooks
    ]
    return body


def test_re_create_with_a_foreign_namesake_is_refused_with_the_import_hint(
    example: Project,
) -> None:
    assert example.run("apply", "--auto-approve").exit_code == 0
    old = example.state()["resources"]["agent.receptionist"]["id"]
    with example.api() as api:
        assert api.delete(f"/v1/agents/{old}").status_code == 204
        other = api.post(
            "/v1/agents",
            json={"agentName": "Acme Receptionist (local)", "instructions": "Someone else's."},
        ).json()
    plan = example.run("plan", "--format", "json")
    (rp,) = [r for r in json.loads(plan.stdout)["resources"] if r["action"] != "no-op"]
    assert rp["address"] == "agent.receptionist" and rp["effect"] == "create"
    assert any(n.startswith("conflict:") for n in rp["notes"])
    before = len(example.journal())
    refused = example.run("apply", "--auto-approve")
    assert refused.exit_code == 3
    assert f"import {other['agentId']} --name receptionist`" in refused.output
    assert example.writes(before) == []
    names = [a["agentName"] for a in example.agents()]
    assert names.count("Acme Receptionist (local)") == 1


def test_re_create_recovers_a_namesake_that_holds_the_config(example: Project) -> None:
    assert example.run("apply", "--auto-approve").exit_code == 0
    old = example.state()["resources"]["agent.receptionist"]["id"]
    with example.api() as api:
        held = api.get(f"/v1/agents/{old}").json()
        assert api.delete(f"/v1/agents/{old}").status_code == 204
        twin = api.post("/v1/agents", json=_recreate_body(held)).json()["agentId"]
    plan = example.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 2
    assert f"+ agent.receptionist  (recover, id {twin})" in plan.output
    assert (
        f"note: deleted outside sigmaform, but an unmanaged agent of the same name (id {twin}) "
        "holds the declared config: it matches the files, so it is recorded in state and "
        "nothing is sent" in plan.output
    )
    assert "Plan: 0 to create, 1 to adopt, 0 to update, 0 to delete, 2 unchanged." in plan.output
    before = len(example.journal())
    done = example.run("apply", "--auto-approve")
    assert done.exit_code == 0, done.output
    assert example.writes(before) == []
    assert example.state()["resources"]["agent.receptionist"]["id"] == twin
    names = [a["agentName"] for a in example.agents()]
    assert names.count("Acme Receptionist (local)") == 1
    assert example.run("plan", "--detailed-exitcode").exit_code == 0


def test_re_create_with_a_namesake_over_a_socket(multi: MultiEnv) -> None:  # noqa: F811
    assert multi.run("apply", "--auto-approve").exit_code == 0
    old = multi.state("staging")["resources"]["agent.receptionist"]["id"]
    with multi.api(STAGING_KEY) as api:
        assert api.delete(f"/v1/agents/{old}").status_code == 204
        other = api.post("/v1/agents", json={"agentName": "Acme Receptionist (staging)"}).json()
    multi.app.journal.clear()
    refused = multi.run("apply", "--auto-approve")
    assert refused.exit_code == 3
    assert f"import {other['agentId']} --name receptionist`" in refused.output
    assert {e.method for e in multi.app.journal.entries} == {"GET"}
    assert list(multi.agents(STAGING_KEY)).count("Acme Receptionist (staging)") == 1


def test_promote_with_a_key_of_another_workspace_is_refused(
    multi: MultiEnv,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert multi.run("apply", "--auto-approve").exit_code == 0
    promoted = multi.run("promote", "--to", "prod", "--apply", "--auto-approve", env=None)
    assert promoted.exit_code == 0, promoted.output
    prod_workspace = multi.state("prod")["workspace"]
    staging_workspace = multi.state("staging")["workspace"]
    assert prod_workspace != staging_workspace
    # prod's key now reaches staging's workspace, which happens to hold prod's number too.
    multi.app.seed_phone_number(STAGING_KEY, "+14155550123", "copy")
    monkeypatch.setenv("SIGMAMIND_API_KEY_PROD", STAGING_KEY)
    multi.app.journal.clear()
    for extra in ((), ("--allow-recreate",)):
        refused = multi.run(
            "promote", "--to", "prod", "--apply", "--auto-approve", *extra, env=None
        )
        assert refused.exit_code == 3, refused.output
        assert (
            f"environment `prod`: the API key from SIGMAMIND_API_KEY_PROD belongs to workspace "
            f"{staging_workspace}, but this environment's state was applied in workspace "
            f"{prod_workspace}" in refused.output
        )
        assert STAGING_KEY not in refused.output
    assert {e.method for e in multi.app.journal.entries} == {"GET"}
    assert len(multi.agents(STAGING_KEY)) == 3


def test_drift_with_a_key_of_another_known_workspace_is_refused_not_reported(
    example: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_key(example, monkeypatch, KEY_A)
    assert example.run("apply", "--auto-approve").exit_code == 0
    # Workspace B is not empty: its webhooks name it.
    with example.api(KEY_B) as api:
        hook = {"name": "h", "url": "https://h.example/b", "events": ["conversation_ended"]}
        made = api.post(
            "/v1/agents", json={"agentName": "B", "agentSettings": {"webhooks": [hook]}}
        )
        assert made.status_code in (200, 201), made.text
    monkeypatch.setenv("LOCAL_KEY", KEY_B)
    drift = example.run("drift")
    assert drift.exit_code == 3
    assert f"belongs to workspace {workspace_of(example, KEY_B)}" in drift.output
    assert "deleted outside sigmaform" not in drift.output


def test_destroy_and_its_plan_with_a_key_of_another_workspace_are_refused(
    example: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under the other key every delete would answer 404 ("already gone"): the plan would
    # promise three deletes, and state would forget agents that stay live in workspace A.
    use_key(example, monkeypatch, KEY_A)
    example.edit("agents/support.yaml", "protect: true", "protect: false")
    assert example.run("apply", "--auto-approve").exit_code == 0
    monkeypatch.setenv("LOCAL_KEY", KEY_B)
    before = len(example.journal())
    for args in (("plan", "--destroy"), ("destroy", "--auto-approve")):
        refused = example.run(*args)
        assert refused.exit_code == 3, refused.output
        assert refused.stdout == ""
        assert "3 of 3 managed resources are missing remotely" in refused.output
        assert "instead of destroying. Nothing was sent." in refused.output
        assert KEY_A not in refused.output and KEY_B not in refused.output
    assert example.writes(before) == []
    assert len(agents_of(example, KEY_A)) == 3
    assert len(example.state()["resources"]) == 3
    # Offline, the plan cannot know: it shows the deletes, as `plan --no-refresh` does.
    offline = example.run("plan", "--destroy", "--no-refresh")
    assert offline.exit_code == 0, offline.output
    assert "Plan: 0 to create, 0 to update, 3 to delete, 0 unchanged." in offline.output


def test_local_emulator_data_removed_is_refused_then_recreated_on_purpose(
    example: Project,
) -> None:
    assert example.run("apply", "--auto-approve").exit_code == 0
    shutil.rmtree(example.emulator_dir)
    refused = example.run("plan")
    assert refused.exit_code == 3
    assert "3 of 3 managed resources are missing remotely" in refused.output
    assert "with the local emulator key. A key of another workspace" in refused.output
    done = example.run("apply", "--auto-approve", "--allow-recreate")
    assert done.exit_code == 0, done.output
    assert len(example.agents()) == 3
    assert example.run("plan", "--detailed-exitcode").exit_code == 0
