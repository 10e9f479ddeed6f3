"""Secrets wherever they flow: any field, fingerprints in state, old fingerprints, file modes.

Through the real CLI against the embedded emulator (the `example` project, `local`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
from typing import Any

import pytest
from conftest import Project

from sigmaform.sensitive import FINGERPRINT_PREFIX, LEGACY_PREFIX

GREETING = "Greet-Token-6b1e40a9"
SUPPORT_SECRET = "whsec-Support-3c9a71"
WELCOME = 'welcomeMessage: "Hi, this is Acme. How can I help you today, {{customer_name}}?"'


def leak_free(project: Project, *outputs: str, secrets: tuple[str, ...] = ()) -> None:
    """No output and no file under .sigmaform/state (or a plan file) holds a secret, in
    any letter case."""
    needles = [s.lower() for s in (GREETING, SUPPORT_SECRET, *secrets)]
    texts = list(outputs)
    texts += [p.read_text() for p in project.root.rglob("*.json") if "emulator" not in p.parts]
    state_dir = project.root / ".sigmaform" / "state"
    texts += [p.read_text() for p in state_dir.rglob("*") if p.is_file()]  # blobs too
    for text in texts:
        for needle in needles:
            assert needle not in text.lower()
        assert "Traceback" not in text


@pytest.fixture
def greeting(example: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    """The example project with a secret inside an ordinary field of agent.support."""
    monkeypatch.setenv("GREETING_TOKEN", GREETING)
    monkeypatch.setenv("SUPPORT_WEBHOOK_SECRET", SUPPORT_SECRET)
    example.edit(
        "agents/support.yaml", WELCOME, 'welcomeMessage: "Hi! Code ${secret.GREETING_TOKEN}."'
    )
    return example


def applied(project: Project, address: str = "agent.support") -> dict[str, Any]:
    return dict(project.state()["resources"][address]["applied"])


def test_a_secret_in_any_field_is_masked_fingerprinted_and_verifies(greeting: Project) -> None:
    plans = [greeting.run("plan", "--format", f).output for f in ("text", "json", "markdown")]
    assert "welcomeMessage: (sensitive)" in plans[0]
    result = greeting.run("apply", "--auto-approve")
    # Today the server's plain value never matched the fingerprint: apply failed verify.
    assert result.exit_code == 0, result.output
    assert "Apply complete: 3 created." in result.output
    # The API got the value; state keeps only its fingerprint.
    remote = {a["agentName"]: a for a in greeting.agents()}
    assert remote["Acme Support (local)"]["welcomeMessage"] == f"Hi! Code {GREETING}."
    assert applied(greeting)["welcomeMessage"].startswith(FINGERPRINT_PREFIX)
    again = greeting.run("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    quiet = greeting.run("drift")
    assert quiet.exit_code == 0, quiet.output

    # Changed outside sigmaform: drift says so, masked, and apply restores it.
    agent_id = greeting.state()["resources"]["agent.support"]["id"]
    with greeting.api() as api:
        api.patch(f"/v1/agents/{agent_id}", json={"welcomeMessage": "Hi! Code OTHER-9f."})
    drift = greeting.run("drift")
    assert drift.exit_code == 2
    assert "welcomeMessage: (sensitive, changed)" in drift.output
    drift_md = greeting.run("drift", "--format", "markdown").output
    drift_json = greeting.run("drift", "--format", "json").output
    assert "OTHER-9f" not in drift.output + drift_md + drift_json
    restored = greeting.run("apply", "--auto-approve")
    assert restored.exit_code == 0, restored.output
    assert greeting.run("plan", "--detailed-exitcode").exit_code == 0
    leak_free(greeting, *plans, result.output, drift.output, drift_md, drift_json)


def test_the_project_fingerprint_key_changes_every_fingerprint(
    greeting: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert greeting.run("apply", "--auto-approve").exit_code == 0
    before = applied(greeting)["welcomeMessage"]
    monkeypatch.setenv("SIGMAFORM_FINGERPRINT_KEY", "project-key-0b9d27e4c1")
    # A new key: the stored fingerprints no longer match what the files hold.
    changed = greeting.run("plan", "--no-refresh", "--detailed-exitcode")
    assert changed.exit_code == 2 and "welcomeMessage: (sensitive, changed)" in changed.output
    assert greeting.run("apply", "--auto-approve").exit_code == 0
    after = applied(greeting)["welcomeMessage"]
    assert after.startswith(FINGERPRINT_PREFIX) and after != before
    assert greeting.run("plan", "--no-refresh", "--detailed-exitcode").exit_code == 0
    assert greeting.run("plan", "--detailed-exitcode").exit_code == 0
    leak_free(greeting, changed.output, secrets=("project-key-0b9d27e4c1",))


def legacy(value: str, lineage: str) -> str:
    """A fingerprint as sigmaform wrote it before v2: HMAC of the plain value."""
    key = hashlib.sha256(b"sigmaform-fingerprint:" + lineage.encode()).digest()
    return LEGACY_PREFIX + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def make_legacy(project: Project, values: dict[str, str]) -> None:
    """Rewrite state as an older sigmaform left it: secrets under the legacy fingerprint."""
    path = project.root / ".sigmaform" / "state" / "local.json"
    data = json.loads(path.read_text())
    lineage = data["lineage"]
    support = data["resources"]["agent.support"]["applied"]
    support["welcomeMessage"] = legacy(values["welcome"], lineage)
    (hook,) = support["agentSettings"]["webhooks"]
    hook["secret"] = legacy(values["hook"], lineage)
    path.write_text(json.dumps(data))


def test_old_fingerprints_still_match_and_are_rewritten_on_the_next_apply(
    greeting: Project,
) -> None:
    assert greeting.run("apply", "--auto-approve").exit_code == 0
    make_legacy(greeting, {"welcome": f"Hi! Code {GREETING}.", "hook": SUPPORT_SECRET})
    for args in (["--no-refresh"], []):
        plan = greeting.run("plan", "--detailed-exitcode", *args)
        assert plan.exit_code == 0, plan.output  # no false "(sensitive, changed)"
    assert greeting.run("drift").exit_code == 0
    before = len(greeting.journal())
    done = greeting.run("apply", "--auto-approve")
    assert done.exit_code == 0, done.output
    assert greeting.writes(before) == []  # nothing to send, only state to rewrite
    state = applied(greeting)
    assert state["welcomeMessage"].startswith(FINGERPRINT_PREFIX)
    assert state["agentSettings"]["webhooks"][0]["secret"].startswith(FINGERPRINT_PREFIX)


def test_an_old_fingerprint_that_no_longer_matches_is_a_change_once(greeting: Project) -> None:
    assert greeting.run("apply", "--auto-approve").exit_code == 0
    # The secret was rotated in the files since that old apply.
    make_legacy(greeting, {"welcome": "Hi! Code OLD-TOKEN.", "hook": "whsec-old-one"})
    plan = greeting.run("plan", "--no-refresh", "--detailed-exitcode")
    assert plan.exit_code == 2
    assert "welcomeMessage: (sensitive, changed)" in plan.output
    assert greeting.run("apply", "--auto-approve", "--no-refresh").exit_code == 0
    assert applied(greeting)["welcomeMessage"].startswith(FINGERPRINT_PREFIX)
    for args in (["--no-refresh"], []):
        settled = greeting.run("plan", "--detailed-exitcode", *args)
        assert settled.exit_code == 0, settled.output


def test_state_and_plan_files_are_readable_by_their_owner_only(greeting: Project) -> None:
    state_file = greeting.root / ".sigmaform" / "state" / "local.json"
    state_file.parent.mkdir(parents=True)
    state_file.write_text(
        '{"version": 1, "lineage": "l-1", "serial": 0, "environment": "local", "resources": {}}'
    )
    state_file.chmod(0o644)  # as an older sigmaform (or a checkout) left it
    plan_file = greeting.root / "out" / "plan.json"
    assert greeting.run("plan", "--out", str(plan_file)).exit_code == 0
    assert greeting.run("apply", "--auto-approve").exit_code == 0
    for path in (plan_file, state_file, state_file.with_name("local.json.backup")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (f"{GREETING}\n", "a trailing newline"),
        (f" {GREETING}", "a leading space"),
        (f"{GREETING[:5]}\r\n{GREETING[5:]}", "a newline inside"),
    ],
)
def test_a_secret_with_whitespace_or_a_newline_is_a_clean_error(
    greeting: Project, monkeypatch: pytest.MonkeyPatch, value: str, why: str
) -> None:
    monkeypatch.setenv("GREETING_TOKEN", value)
    result = greeting.run("plan")
    assert result.exit_code == 1, why
    assert (
        "agents/support.yaml:10:19: spec.welcomeMessage: `${secret.GREETING_TOKEN}`: the value"
        " of `GREETING_TOKEN` has surrounding whitespace, a newline or another control"
        " character; remove it (the value is not shown)"
    ) in result.output
    assert GREETING[:5] not in result.output and GREETING[5:] not in result.output
    assert greeting.journal() == []
