"""The local state's journal: successes appended during apply, compacted at its end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Project

from sigmaform.errors import ConfigError
from sigmaform.state import LocalBackend, ResourceState, State


def record(name: str, rid: str) -> ResourceState:
    return ResourceState("Agent", rid, {"agentName": name}, "sha256:1", "2026-12-01T10:00:00Z")


def journalled(tmp_path: Path) -> tuple[LocalBackend, State]:
    """A document with agent.a, and a journal adding agent.b then removing agent.a."""
    backend = LocalBackend(tmp_path / "dev.json", "dev.json")
    state = backend.write(State.new("dev").with_resource("agent.a", record("A", "A1")))
    state = backend.append(
        state.with_resource("agent.b", record("B", "B1")), [("agent.b", record("B", "B1"))]
    )
    state = backend.append(state.without("agent.a"), [("agent.a", None)])
    return backend, state


def test_read_replays_the_journal_and_the_next_write_compacts_it(tmp_path: Path) -> None:
    backend, state = journalled(tmp_path)
    document = json.loads((tmp_path / "dev.json").read_text())
    assert list(document["resources"]) == ["agent.a"]  # appends did not rewrite it
    again = LocalBackend(tmp_path / "dev.json").read()
    assert again is not None and again.serial == state.serial == 3
    assert dict(again.resources) == {"agent.b": record("B", "B1")}
    written = backend.write(again)
    assert not (tmp_path / "dev.json.journal").exists()
    assert list(json.loads((tmp_path / "dev.json").read_text())["resources"]) == ["agent.b"]
    assert backend.read() == written


def test_a_journal_already_compacted_is_not_applied_twice(tmp_path: Path) -> None:
    """A crash between writing the document and removing the journal."""
    backend, state = journalled(tmp_path)
    journal = (tmp_path / "dev.json.journal").read_bytes()
    written = backend.write(state.with_resource("agent.a", record("A", "A2")))
    (tmp_path / "dev.json.journal").write_bytes(journal)
    assert backend.read() == written


def test_a_torn_last_line_is_dropped(tmp_path: Path) -> None:
    """A kill mid-append: that line was never fsynced, so never reported as saved."""
    backend, state = journalled(tmp_path)
    with (tmp_path / "dev.json.journal").open("a") as handle:
        handle.write('{"lineage": "')
    assert backend.read() == state


def test_first_apply_killed_before_any_document_still_reads(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "dev.json")
    state = State.new("dev").with_resource("agent.b", record("B", "B1"))
    backend.append(state, [("agent.b", record("B", "B1"))])
    found = backend.read()
    assert found is not None and found.lineage == state.lineage and found.environment == "dev"
    assert dict(found.resources) == dict(state.resources)


def test_apply_leaves_no_journal_and_the_document_holds_every_success(
    example: Project,
) -> None:
    result = example.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    state_dir = example.root / ".sigmaform" / "state"
    assert not list(state_dir.glob("*.journal"))
    recorded = {r["id"] for r in example.state()["resources"].values()}
    assert {a["agentId"] for a in example.agents()} <= recorded


def test_an_apply_with_nothing_to_do_still_folds_a_leftover_journal(example: Project) -> None:
    """A killed apply that had recorded every success leaves only a journal: the next apply
    has nothing to send, and must still leave the document (what teams read) complete."""
    assert example.run("apply", "--auto-approve").exit_code == 0
    state_path = example.root / ".sigmaform" / "state" / "local.json"
    full = example.state()
    address, kept = next(iter(full["resources"].items()))
    backend = LocalBackend(state_path)
    current = backend.read()
    assert current is not None
    # What a kill after the append and before the compaction leaves on disk.
    backend.write(current.without(address))
    lean = backend.read()
    assert lean is not None
    backend.append(
        lean.with_resource(address, current.resources[address]),
        [(address, current.resources[address])],
    )
    assert address not in example.state()["resources"]  # the document lags the journal
    result = example.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "No changes" in result.output
    assert not state_path.with_name("local.json.journal").exists()
    assert example.state()["resources"][address] == kept


def _damage(example: Project, lines: list[str]) -> None:
    path = example.root / ".sigmaform" / "state" / "local.json.journal"
    path.write_text("".join(line + "\n" for line in lines))


def test_a_damaged_journal_line_is_a_clear_error(example: Project) -> None:
    assert example.run("apply", "--auto-approve").exit_code == 0
    lineage = example.state()["lineage"]
    good = json.dumps({"lineage": lineage, "serial": 99, "environment": "local", "changes": []})
    _damage(example, ["{not json", good])
    result = example.run("plan", "--no-refresh")
    assert result.exit_code == 1
    assert "local.json.journal:1" in result.output and "damaged" in result.output
    assert "Traceback" not in result.output


def test_a_journal_of_another_state_is_refused(example: Project) -> None:
    assert example.run("apply", "--auto-approve").exit_code == 0
    other = json.dumps({"lineage": "other", "serial": 99, "environment": "local", "changes": []})
    _damage(example, [other])
    result = example.run("plan", "--no-refresh")
    assert result.exit_code == 1
    assert "local.json.journal:1" in result.output and "another state" in result.output


def test_backend_damage_raises_config_error(tmp_path: Path) -> None:
    backend, _ = journalled(tmp_path)
    (tmp_path / "dev.json.journal").write_text('{"lineage": 1}\n{}\n')
    with pytest.raises(ConfigError, match="damaged"):
        backend.read()
