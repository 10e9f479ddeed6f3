"""Long applied text out of line: blob files beside the state, read only when shown."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import Project

from sigmaform.errors import ConfigError
from sigmaform.state import LocalBackend, ResourceState, State
from sigmaform.state_blobs import THRESHOLD, TextRef, decode, digest_of, encode

FIXTURE = Path(__file__).parent / "fixtures" / "state-v1" / "local.json"
LONG = "You are a helpful agent.\n" * 40


def blob_files(state_file: Path) -> list[Path]:
    return sorted(
        p for p in state_file.with_name(state_file.name + ".blobs").rglob("*") if p.is_file()
    )


def a_resource(prompt: str, rid: str = "agt_1", **applied: object) -> ResourceState:
    return ResourceState(
        kind="Agent",
        id=rid,
        applied={"agentName": "Support", "instructions": prompt, **applied},
        config_digest="sha256:x",
        applied_at="2026-01-01T00:00:00Z",
    )


def test_long_text_is_stored_once_beside_the_document_and_read_back_lazily(
    tmp_path: Path,
) -> None:
    path = tmp_path / "local.json"
    state = State.new("local")
    state = state.with_resource("agent.a", a_resource(LONG))
    state = state.with_resource("agent.b", a_resource(LONG, "agt_2", welcomeMessage="Hi"))
    LocalBackend(path).write(state)

    document = json.loads(path.read_text())
    assert document["version"] == 3
    marker = {"$blob": digest_of(LONG)}
    assert document["resources"]["agent.a"]["applied"]["instructions"] == marker
    assert LONG not in path.read_text()
    (blob,) = blob_files(path)  # one text, two references: stored once
    assert blob.read_text() == LONG and blob.stat().st_mode & 0o777 == 0o600
    assert blob.relative_to(tmp_path).as_posix() == (
        f"local.json.blobs/sha256/{digest_of(LONG)[7:9]}/{digest_of(LONG)[9:]}"
    )

    read = LocalBackend(path).read()
    assert read is not None
    held = read.resources["agent.a"].applied["instructions"]
    assert isinstance(held, TextRef) and held == LONG and held != LONG + "!"
    blob.unlink()  # comparing needs no text: the digest decides
    assert held == LONG
    with pytest.raises(ConfigError, match=r"state blob sha256:[0-9a-f]{32} is missing"):
        _ = held.text


def test_unreferenced_blobs_are_pruned_but_the_backups_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "local.json"
    backend = LocalBackend(path)
    first = backend.write(State.new("local").with_resource("agent.a", a_resource(LONG)))
    second = backend.write(first.with_resource("agent.a", a_resource(LONG + "v2")))
    # The backup (the first version) still names the first text: both stay.
    assert len(blob_files(path)) == 2
    backend.write(second.with_resource("agent.a", a_resource(LONG + "v3")))
    texts = sorted(p.read_text() for p in blob_files(path))
    assert texts == [LONG + "v2", LONG + "v3"]


def test_user_keys_starting_with_dollar_never_read_back_as_markers() -> None:
    applied = {
        "tools": [{"parameters": {"$ref": "#/x", "$blob": "sha256:" + "0" * 64}}],
        "short": "x" * THRESHOLD,
    }
    sink: dict[str, object] = {}
    stored = encode(applied, sink)  # type: ignore[arg-type]
    assert stored["tools"][0]["parameters"] == {"$$ref": "#/x", "$$blob": "sha256:" + "0" * 64}
    assert sink == {} and decode(stored, None, "state") == applied
    for damaged in (
        {"$ref": "#/x"},
        {"$blob": "sha256:12"},
        {"$blob": "sha256:" + "0" * 64, "x": 1},
    ):
        with pytest.raises(ConfigError, match="damaged state"):
            decode({"tools": [damaged]}, None, "state")


def _v1_project(example: Project) -> Path:
    state_file = example.root / ".sigmaform" / "state" / "local.json"
    state_file.parent.mkdir(parents=True)
    shutil.copy(FIXTURE, state_file)
    return state_file


def test_a_state_file_written_by_the_previous_release_is_read_and_upgraded(
    example: Project,
) -> None:
    state_file = _v1_project(example)
    old = json.loads(state_file.read_text())
    assert old["version"] == 1  # written by v0.2 (inline text), committed as a fixture
    plan = example.run("plan", "--no-refresh", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output

    # Any write upgrades it: here `state mv`, which sends nothing.
    moved = example.run("state", "mv", "agent.receptionist", "agent.front-desk")
    assert moved.exit_code == 0, moved.output
    new = json.loads(state_file.read_text())
    assert new["version"] == 3 and new["serial"] == old["serial"] + 1
    support = new["resources"]["agent.support"]["applied"]
    prompt = old["resources"]["agent.support"]["applied"]["instructions"]
    assert support["instructions"] == {"$blob": digest_of(prompt)}
    # One prompt per agent, and the two arrays over 256 bytes of JSON (support's tools,
    # the reminder's post-call analysis).
    assert len(blob_files(state_file)) == 5
    assert prompt not in state_file.read_text()
    upgraded, before = LocalBackend(state_file).read(), State.from_dict(old, "fixture")
    assert upgraded is not None
    assert upgraded.resources["agent.support"] == before.resources["agent.support"]
    assert upgraded.resources["agent.front-desk"] == before.resources["agent.receptionist"]


def test_a_plan_reads_a_blob_only_to_show_its_diff_and_a_missing_one_is_a_clear_error(
    example: Project,
) -> None:
    state_file = _v1_project(example)
    assert example.run("state", "mv", "agent.receptionist", "agent.front-desk").exit_code == 0
    assert example.run("state", "mv", "agent.front-desk", "agent.receptionist").exit_code == 0
    prompt = json.loads(FIXTURE.read_text())["resources"]["agent.support"]["applied"]
    digest = digest_of(prompt["instructions"])
    blob = state_file.with_name("local.json.blobs") / "sha256" / digest[7:9] / digest[9:]
    blob.rename(blob.with_name("aside"))
    # Nothing changed: the digest answers, the text is never read.
    assert example.run("plan", "--no-refresh", "--detailed-exitcode").exit_code == 0

    example.edit("agents/prompts/support.md", "You are calm", "You are patient")
    failed = example.run("plan", "--no-refresh")
    assert failed.exit_code == 1
    assert failed.output == (
        f"Error: .sigmaform/state/local.json.blobs/sha256/{digest[7:9]}/{digest[9:]}: "
        f"state blob {digest} is missing: the state refers to text that is not stored "
        "(restore it from a backup or copy of the state, or re-apply with `state rm` and "
        "`import`)\n"
    )
    blob.with_name("aside").rename(blob)
    shown = example.run("plan", "--no-refresh", "--detailed-exitcode")
    assert shown.exit_code == 2, shown.output
    assert "-You are calm" in shown.output or "You are calm" in shown.output
    assert "You are patient" in shown.output

    blob.write_text(prompt["instructions"] + "tampered")
    corrupt = example.run("plan", "--no-refresh")
    assert corrupt.exit_code == 1
    assert f"state blob {digest} is corrupt (its content does not match)" in corrupt.output


def test_an_appended_text_travels_in_the_journal_until_compaction_writes_its_blob(
    tmp_path: Path,
) -> None:
    path = tmp_path / "local.json"
    backend = LocalBackend(path)
    state = backend.write(State.new("local"))
    resource = a_resource(LONG)
    state = backend.append(state.with_resource("agent.a", resource), [("agent.a", resource)])
    again = replace(resource, applied={**resource.applied, "welcomeMessage": "Hi"})
    state = backend.append(state.with_resource("agent.a", again), [("agent.a", again)])
    lines = [json.loads(x) for x in path.with_name("local.json.journal").read_text().splitlines()]
    # One fsync per line covers the text; the second line names it without carrying it.
    assert lines[0]["blobs"] == {digest_of(LONG): LONG} and "blobs" not in lines[1]
    assert blob_files(path) == []

    # A process killed here leaves the journal: reading takes the text from it.
    read = LocalBackend(path).read()
    assert read == state
    held = read.resources["agent.a"].applied["instructions"]
    assert isinstance(held, TextRef) and held.text == LONG

    LocalBackend(path).compact(read)  # the next write (or lock) folds it in
    (blob,) = blob_files(path)
    assert blob.read_text() == LONG and not path.with_name("local.json.journal").exists()
    assert LocalBackend(path).read() == state
