"""State version 3: short digests and fingerprints, long arrays out of line, version 2 read."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import Project

from sigmaform.digest import config_digest, full_config_digest, short_digest
from sigmaform.project import load_project
from sigmaform.sensitive import V2_PREFIX, fingerprint, fingerprint_key, from_v2
from sigmaform.state import LocalBackend, ResourceState, State
from sigmaform.state_blobs import JsonRef, TextRef, canonical, decode, digest_of, encode
from sigmaform.state_journal import journal_path

FIXTURE_V2 = Path(__file__).parent / "fixtures" / "state-v2"
STATE = Path(".sigmaform") / "state" / "local.json"
V3_FINGERPRINT = re.compile(r"sensitive:v3:[A-Za-z0-9_-]{22}")


def _v2_project(example: Project) -> Path:
    """The example project with the state (and emulator data) sigmaform wrote at version 2."""
    shutil.copytree(FIXTURE_V2 / "state", example.root / STATE.parent)
    shutil.copytree(FIXTURE_V2 / "emulator", example.emulator_dir)
    return example.root / STATE


def _fingerprints(value: Any) -> list[str]:
    text = json.dumps(value)
    return re.findall(r"sensitive:v[0-9]:[^\"]+", text)


def test_a_version_2_state_plans_clean_and_is_upgraded_on_the_next_write(
    example: Project,
) -> None:
    state_file = _v2_project(example)
    old = json.loads(state_file.read_text())
    assert old["version"] == 2 and len(_fingerprints(old)) == 2
    for args in (("--no-refresh",), ()):  # from state alone, and against the server
        plan = example.run("plan", "--detailed-exitcode", *args)
        assert plan.exit_code == 0, plan.output

    # Any write upgrades it: here `state mv` there and back, which sends nothing.
    assert example.run("state", "mv", "agent.receptionist", "agent.front-desk").exit_code == 0
    assert example.run("state", "mv", "agent.front-desk", "agent.receptionist").exit_code == 0
    new = json.loads(state_file.read_text())
    assert new["version"] == 3 and new["serial"] == old["serial"] + 2
    for address, record in new["resources"].items():
        was = old["resources"][address]
        assert "kind" not in record  # the address says it
        assert record["configDigest"] == short_digest(was["configDigest"])
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", record["configDigest"])
    # Each old fingerprint is its first 128 bits now: no secret was needed to shorten it.
    shortened = _fingerprints(new)
    assert [V3_FINGERPRINT.fullmatch(f) for f in shortened] and all(
        V3_FINGERPRINT.fullmatch(f) for f in shortened
    )
    assert sorted(shortened) == sorted(from_v2(_fingerprints(old)))
    assert len(state_file.read_bytes()) < len(json.dumps(old, separators=(",", ":")))

    for args in (("--no-refresh",), ()):
        plan = example.run("plan", "--detailed-exitcode", *args)
        assert plan.exit_code == 0, plan.output
    upgraded = LocalBackend(state_file).read()
    before = State.from_dict(old, "fixture", LocalBackend(state_file).blobs)
    assert upgraded is not None and upgraded.resources == before.resources


def test_a_rotated_secret_shows_as_changed_against_a_version_2_fingerprint(
    example: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    _v2_project(example)
    monkeypatch.setenv("SUPPORT_WEBHOOK_SECRET", "rotated-support-secret-value")
    plan = example.run("plan", "--no-refresh", "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    assert "(sensitive, changed)" in plan.output
    assert "rotated-support-secret-value" not in plan.output
    assert "agent.support" in plan.output and "agent.appointment-reminder" not in plan.output


def test_a_version_2_fingerprint_is_the_current_one_shortened() -> None:
    key = fingerprint_key("5be3dae1-b9f5-4e7b-8e08-ead9b2bbc28d", environ={})
    current = fingerprint("s3cret-value", key)
    assert V3_FINGERPRINT.fullmatch(current)
    stretched = hashlib.scrypt(
        b"s3cret-value", salt=key, n=2**14, r=8, p=1, maxmem=64 * 2**20, dklen=32
    )
    whole = V2_PREFIX + hmac.new(key, stretched, hashlib.sha256).hexdigest()
    assert from_v2({"webhooks": [{"secret": whole}]}) == {"webhooks": [{"secret": current}]}
    other = V2_PREFIX + hmac.new(key, b"other", hashlib.sha256).hexdigest()
    assert from_v2(other) != current
    # Anything else, including a damaged version 2 fingerprint, is left as it is.
    for kept in (whole[:-1], "sensitive:hmac-sha256:ab", "plain"):
        assert from_v2(kept) == kept


def test_config_digests_of_version_2_compare_equal_once_shortened(example: Project) -> None:
    project = load_project(example.root, "local")
    resource = next(r for r in project.resources if r.address == "agent.support")
    assert short_digest(full_config_digest(resource)) == config_digest(resource)
    assert short_digest(config_digest(resource)) == config_digest(resource)
    assert short_digest("") == ""
    # The test records in a version 2 header carry the long form too.
    old = json.loads((FIXTURE_V2 / "state" / "local.json").read_text())
    old["tests"] = {
        "agent.support": {
            "agentDigest": full_config_digest(resource),
            "cases": {},
            "successful": 0,
            "attempts": 0,
            "verdict": "passed",
            "ranAt": "2026-12-02T00:00:00Z",
        }
    }
    state = State.from_dict(old, "fixture")
    assert state.tests["agent.support"]["agentDigest"] == config_digest(resource)


HOOKS = [
    {
        "name": f"hook-{i}",
        "url": f"https://hooks.example.com/{i}",
        "events": ["conversation_started", "conversation_ended"],
        "secret": "sensitive:v3:" + "A" * 22,
    }
    for i in range(3)
]


def _agent(**applied: Any) -> ResourceState:
    return ResourceState("Agent", "agt_1", {"agentName": "A", **applied}, "d", "t")


def test_a_long_array_is_stored_once_as_its_json_and_compared_by_digest(tmp_path: Path) -> None:
    path = tmp_path / "local.json"
    hooks = {"agentSettings": {"webhooks": HOOKS, "language": "en_US"}, "tools": [{"t": 1}]}
    LocalBackend(path).write(State.new("local").with_resource("agent.a", _agent(**hooks)))
    record = json.loads(path.read_text())["resources"]["agent.a"]
    marker = {"$json": digest_of(canonical(HOOKS))}
    assert record["applied"]["agentSettings"] == {"webhooks": marker, "language": "en_US"}
    assert record["applied"]["tools"] == [{"t": 1}]  # short: stays in the document
    assert re.fullmatch(r"sha256:[0-9a-f]{32}", marker["$json"])

    read = LocalBackend(path).read()
    assert read is not None
    held = read.resources["agent.a"].applied["agentSettings"]["webhooks"]
    assert isinstance(held, JsonRef) and held == HOOKS
    assert {"w": HOOKS} == {"w": held}  # noqa: SIM300  (reflected: the list on the left)
    assert held != HOOKS[:2] and held != [*HOOKS[:2], {**HOOKS[2], "url": "x"}]
    # A whole float the server echoes as an integer is the same value, as Python says.
    floats = [{**h, "weight": 2.0} for h in HOOKS]
    assert encode(floats, {}) == encode([{**h, "weight": 2} for h in HOOKS], {})
    # Comparing needs no text; showing it reads the blob.
    blob = path.with_name("local.json.blobs") / "sha256" / marker["$json"][7:9]
    (stored,) = blob.iterdir()
    assert json.loads(stored.read_text()) == HOOKS
    assert (
        held.value == HOOKS
        and read.resources["agent.a"].to_dict(inline=True)["applied"]["agentSettings"]["webhooks"]
        == HOOKS
    )


def test_markers_of_both_versions_are_read_and_bad_ones_refused() -> None:
    long_hex, short_hex = "sha256:" + "a" * 64, "sha256:" + "b" * 32
    decoded = decode({"x": {"$blob": long_hex}, "y": {"$json": short_hex}}, None, "state")
    assert isinstance(decoded["x"], TextRef) and not isinstance(decoded["x"], JsonRef)
    assert isinstance(decoded["y"], JsonRef) and decoded["y"].digest == short_hex
    for damaged in ({"$json": "sha256:" + "b" * 31}, {"$json": short_hex, "x": 1}):
        with pytest.raises(Exception, match=r"damaged state: a malformed \$json marker"):
            decode({"tools": damaged}, None, "state")


def test_a_plan_reads_an_array_blob_only_to_show_its_diff(example: Project) -> None:
    state_file = _v2_project(example)
    assert example.run("state", "mv", "agent.support", "agent.help").exit_code == 0
    assert example.run("state", "mv", "agent.help", "agent.support").exit_code == 0
    applied = json.loads(state_file.read_text())["resources"]["agent.support"]["applied"]
    tools = applied["tools"]
    assert set(tools) == {"$json"}, "the example's tools list is long enough to go"
    digest = tools["$json"]
    blob = state_file.with_name("local.json.blobs") / "sha256" / digest[7:9] / digest[9:]
    blob.rename(blob.with_name("aside"))
    assert example.run("plan", "--no-refresh", "--detailed-exitcode").exit_code == 0

    example.edit("agents/support.yaml", "End the call once", "End the call as soon as")
    failed = example.run("plan", "--no-refresh")
    assert failed.exit_code == 1 and f"state blob {digest} is missing" in failed.output
    blob.with_name("aside").rename(blob)
    shown = example.run("plan", "--no-refresh", "--detailed-exitcode")
    assert shown.exit_code == 2, shown.output
    assert "tools" in shown.output and "as soon as" in shown.output


def test_a_version_2_journal_line_is_replayed_in_the_current_form(tmp_path: Path) -> None:
    path = tmp_path / "local.json"
    old = json.loads((FIXTURE_V2 / "state" / "local.json").read_text())
    shutil.copytree(FIXTURE_V2 / "state" / "local.json.blobs", tmp_path / "local.json.blobs")
    path.write_text(json.dumps({**old, "resources": {}}))
    record = old["resources"]["agent.support"]
    line = {
        "version": 2,
        "lineage": old["lineage"],
        "serial": old["serial"] + 1,
        "environment": old["environment"],
        "changes": [["agent.support", record]],
    }
    journal_path(path).write_text(json.dumps(line) + "\n")
    state = LocalBackend(path).read()
    assert state is not None and state.serial == old["serial"] + 1
    support = state.resources["agent.support"]
    assert support.kind == "Agent"
    assert support.config_digest == short_digest(record["configDigest"])
    assert all(V3_FINGERPRINT.fullmatch(f) for f in _fingerprints(support.to_dict()))
    assert support == State.from_dict(old, "fixture").resources["agent.support"]


def test_an_array_blob_that_holds_no_array_is_named(example: Project) -> None:
    """A blob whose text matches its digest but is not an array (a hand-made state): the
    plan that must show the field's diff says which blob, exit 1, nothing sent."""
    state_file = _v2_project(example)
    assert example.run("state", "mv", "agent.support", "agent.help").exit_code == 0
    assert example.run("state", "mv", "agent.help", "agent.support").exit_code == 0
    data = json.loads(state_file.read_text())
    text = '{"not": "an array"}'
    digest = digest_of(text)
    blob = state_file.with_name("local.json.blobs") / "sha256" / digest[7:9] / digest[9:]
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_text(text)
    data["resources"]["agent.support"]["applied"]["tools"] = {"$json": digest}
    state_file.write_text(json.dumps(data))
    failed = example.run("plan", "--no-refresh")
    assert failed.exit_code == 1, failed.output
    assert f"state blob {digest} is not a JSON array" in failed.output
    assert "Traceback" not in failed.output
