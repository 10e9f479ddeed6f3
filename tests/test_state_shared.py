"""What every shared state backend promises, written once and run on PostgreSQL and S3
(the `shared` fixture): the plan/apply scenarios of shared_backends.py, a whole round
trip, no lost update, a lock that names its holder, and `state push|pull` with the
prompts kept out of line.

What only one backend has (postgres history rows and sessions, S3 ETags, lock objects and
versioned buckets) stays in test_state_postgres.py and test_state_s3.py.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest
from conftest import Project
from shared_backends import SCENARIOS, a_resource, run_scenario
from shared_state import Shared, SharedProject

from sigmaform.errors import LockHeldError, StalePlanError
from sigmaform.state import LocalBackend, LockInfo, State

STATE_FILE = ".sigmaform/state/local.json"
# A postgres lock lives as long as its holder's connection; an S3 lock object outlives it.
WHAT_TO_DO = {
    "postgres": "wait for it to finish or retry with --lock-timeout (a holder that died "
    "releases the lock with its connection)",
    "s3": "wait for it to finish, retry with --lock-timeout (or, if it is gone, run "
    "`sigmaform state unlock`)",
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_plan_apply_scenarios_pass(
    scenario: str, example: Project, shared: Shared, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared.point(example)
    run_scenario(scenario, SharedProject(example.root, example.env, shared), monkeypatch)
    assert shared.backend().lock_holder() is None  # every run released its lock


def test_read_write_round_trip_keeps_the_whole_document(shared: Shared) -> None:
    backend = shared.backend()
    assert backend.read() is None
    state = State.new("local").with_resource("agent.one", a_resource(1))
    written = backend.write(state)
    assert written.serial == 1
    again = shared.backend().read()
    assert again == written
    assert again is not None and again.to_dict() == written.to_dict()
    assert shared.backend("prod").read() is None  # another environment, another state


def test_a_lost_update_is_refused_with_exit_3_and_nothing_is_lost(shared: Shared) -> None:
    first, second = shared.backend(), shared.backend()
    base = first.write(State.new("local"))
    mine = second.read()
    assert mine is not None
    first.write(base.with_resource("agent.one", a_resource(1)))
    with pytest.raises(StalePlanError) as caught:
        second.write(mine.with_resource("agent.two", a_resource(2)))
    assert caught.value.exit_code == 3
    assert str(caught.value) == (
        f"state {shared.where} was written by someone else since it was read "
        "(expected serial 1, found serial 2): run `sigmaform plan` again"
    )
    stored = shared.backend().read()
    assert stored is not None and list(stored.resources) == ["agent.one"]
    # A second "first write" of a new state is a conflict too, not an overwrite.
    with pytest.raises(StalePlanError, match=r"expected no state, found serial 2"):
        second.write(State.new("local"))
    assert shared.backend().read() == stored


def test_lock_held_is_refused_at_once_naming_the_holder(shared: Shared) -> None:
    holder, other = shared.backend(), shared.backend()
    info = LockInfo("apply", who="ci-runner-7", host="runner-host", pid=4242)
    with holder.lock(info):
        with pytest.raises(LockHeldError) as caught, other.lock(LockInfo("apply")):
            pass
        assert caught.value.exit_code == 3
        assert str(caught.value) == (
            f"state {shared.where} is locked by ci-runner-7@runner-host "
            f"(pid 4242, apply, since {info.created}); {WHAT_TO_DO[shared.name]}"
        )
        assert other.is_locked()  # another host: it may be alive
        assert other.lock_holder() == info
        holder.write(State.new("local"))  # the holder writes while it holds the lock
        with shared.backend("prod").lock(LockInfo("apply")):
            pass  # other environments are not locked
    assert not other.is_locked()
    assert other.lock_holder() is None
    with other.lock(LockInfo("apply")):
        assert holder.is_locked()


def test_push_moves_local_state_there_and_pull_brings_it_back_with_its_blobs(
    example: Project, shared: Shared
) -> None:
    assert example.run("apply", "--auto-approve").exit_code == 0
    local = example.state()
    shared.point(example)
    pushed = example.run("state", "push")
    assert pushed.exit_code == 0, pushed.output
    assert pushed.output == (
        f"Pushed {STATE_FILE} to {shared.where}: serial {local['serial']}, 3 resources.\n"
    )
    stored = shared.backend().read()
    assert stored is not None and stored.to_dict() == local
    assert example.run("plan", "--detailed-exitcode").exit_code == 0
    again = example.run("state", "push")
    assert again.exit_code == 0 and "already holds" in again.output

    # The prompts travelled as blobs: gone locally, pull brings them back.
    state_file = example.root / STATE_FILE
    blob_dir = state_file.with_name("local.json.blobs")
    blob_files = sorted(p.name for p in blob_dir.rglob("*") if p.is_file())
    assert blob_files and '{"$blob": "' in json.dumps(local)
    state_file.unlink()
    shutil.rmtree(blob_dir)
    pulled = example.run("state", "pull")
    assert pulled.exit_code == 0, pulled.output
    assert example.state() == local
    assert sorted(p.name for p in blob_dir.rglob("*") if p.is_file()) == blob_files
    assert example.run("plan", "--detailed-exitcode").exit_code == 0
    shown = example.run("state", "show", "agent.support")
    assert shown.exit_code == 0 and "$blob" not in shown.output


def test_push_and_pull_refuse_a_different_lineage_without_force(
    example: Project, shared: Shared
) -> None:
    shared.point(example)
    theirs = shared.backend().write(State.new("local").with_resource("agent.x", a_resource(1)))
    state_file = example.root / STATE_FILE
    mine = LocalBackend(state_file).write(State.new("local"))
    refused = example.run("state", "push")
    assert refused.exit_code == 3
    assert (
        f"Error: refusing to overwrite {shared.where} (lineage {theirs.lineage}) with "
        f"{STATE_FILE} (lineage {mine.lineage}): they are different states; pass --force to "
        "replace it"
    ) in refused.output
    refused = example.run("state", "pull")
    assert refused.exit_code == 3 and "they are different states" in refused.output
    assert LocalBackend(state_file).read() == mine

    forced = example.run("state", "push", "--force")
    assert forced.exit_code == 0, forced.output
    stored = shared.backend().read()
    assert stored is not None
    assert stored.lineage == mine.lineage and stored.serial == theirs.serial + 1


def test_push_refuses_to_replace_newer_state(example: Project, shared: Shared) -> None:
    old = LocalBackend(example.root / STATE_FILE).write(State.new("local"))
    shared.point(example)
    shared.backend().store(replace(old, serial=5), None)
    refused = example.run("state", "push")
    assert refused.exit_code == 3
    assert (
        f"{shared.where} is newer than {STATE_FILE} (serial 5 > 1): copy it the other way "
        "first, or pass --force to replace it"
    ) in refused.output
    assert example.run("state", "pull").exit_code == 0
    assert example.state()["serial"] == 5
