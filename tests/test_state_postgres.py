"""The PostgreSQL state backend against a real server: CAS writes, history, advisory lock."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import Project
from pg import Cluster
from shared_backends import a_resource, wait_for
from shared_state import URL_VAR, Pg, use_postgres

from sigmaform.errors import ConfigError, LockHeldError, LockLostError
from sigmaform.state import LocalBackend, LockInfo, State

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (the postgres extra)")

from sigmaform.state_postgres import (  # noqa: E402
    PostgresBackend,
    StateDatabaseError,
    lock_key,
    scrub_url,
)

PASSWORD = "hunter2-Sup3rSecret"
FIXTURE_V1 = Path(__file__).parent / "fixtures" / "state-v1" / "local.json"
FIXTURE_V2 = Path(__file__).parent / "fixtures" / "state-v2"


# -- the backend ------------------------------------------------------------------------


def test_another_project_is_another_row(pg: Pg) -> None:
    """One database holds many projects' states (the round trip: test_state_shared.py)."""
    pg.backend().write(State.new("local").with_resource("agent.one", a_resource(1)))
    assert pg.backend(project="other").read() is None


def test_history_keeps_the_last_n_previous_versions(pg: Pg) -> None:
    backend = pg.backend(history=3)
    state = backend.write(State.new("local"))
    for n in range(5):
        state = backend.write(state.with_resource(f"agent.a{n}", a_resource(n)))
    assert state.serial == 6
    assert backend.history_serials() == [5, 4, 3]
    with psycopg.connect(pg.url) as conn:
        row = conn.execute(
            f"SELECT document FROM {pg.schema}.state_history WHERE serial = 5"
        ).fetchone()
    # The previous header, with the previous record of what the next write changed: the
    # write of serial 6 added agent.a4 (it had none), so restoring needs only that row.
    assert row is not None
    assert row[0]["serial"] == 5 and row[0]["replaced"] == {"agent.a4": None}
    assert "resources" not in row[0]


def test_force_unlock_removes_the_row_but_cannot_steal_a_live_lock(pg: Pg) -> None:
    holder, other = pg.backend(), pg.backend()
    with holder.lock(LockInfo("apply", who="alice")):
        removed = other.force_unlock()
        assert removed is not None and removed.who == "alice"
        assert other.lock_holder() is None
        assert other.is_locked()
        with pytest.raises(LockHeldError, match=r"locked by the session `sigmaform apply alice@"):
            other.lock(LockInfo("apply")).__enter__()
    assert other.force_unlock() is None


def test_lock_timeout_polls_until_the_holder_releases_or_time_runs_out(pg: Pg) -> None:
    holder, other = pg.backend(), pg.backend()
    with holder.lock(LockInfo("apply", who="alice")):
        started = time.monotonic()
        with pytest.raises(LockHeldError, match=r"\(waited 0\.4s\); .*--lock-timeout"):
            other.lock(LockInfo("apply"), timeout=0.4).__enter__()
        assert time.monotonic() - started >= 0.4
    taken = threading.Event()

    def hold_briefly() -> None:
        with holder.lock(LockInfo("apply", who="alice")):
            taken.set()
            time.sleep(0.5)

    thread = threading.Thread(target=hold_briefly)
    thread.start()
    taken.wait(10)
    with other.lock(LockInfo("apply", who="bob"), timeout=10):
        found = other.lock_holder()
        assert found is not None and found.who == "bob"
    thread.join()


def test_lock_key_is_stable_and_distinct() -> None:
    assert lock_key("s", "p", "local") == lock_key("s", "p", "local")
    assert lock_key("s", "p", "local") != lock_key("s", "p", "prod")
    assert -(2**63) <= lock_key("s", "p", "prod") < 2**63


# -- errors without the password --------------------------------------------------------


def test_scrub_url_hides_only_the_password() -> None:
    assert scrub_url("postgresql://bob:pa:ss@db.example:5432/x") == (
        "postgresql://bob:***@db.example:5432/x"
    )
    assert scrub_url("postgresql://bob@db/x") == "postgresql://bob@db/x"
    assert scrub_url("postgresql://bob:p@ss@db/x") == "postgresql://bob:***@db/x"
    assert scrub_url("postgresql://db/x?sslmode=require&PASSWORD=s3&user=bob") == (
        "postgresql://db/x?sslmode=require&PASSWORD=***&user=bob"
    )
    assert scrub_url("host=db password = s3 user=bob") == "host=db password = *** user=bob"
    assert scrub_url("host=db password='a \\' b' user=bob") == "host=db password=*** user=bob"


def test_connection_errors_name_the_database_without_the_password(cluster: Cluster) -> None:
    url = cluster.url("no_such_db", password=PASSWORD)
    with pytest.raises(StateDatabaseError) as caught:
        PostgresBackend(url, "acme", "local").read()
    message = str(caught.value)
    assert message.startswith(f"cannot connect to the state database {scrub_url(url)}: ")
    assert 'database "no_such_db" does not exist' in message
    assert PASSWORD not in message and ":***@" in message
    # libpq quotes a URL it cannot parse: the password must not come with it.
    bad = f"postgresql://bob:{PASSWORD}@[::1/db"
    with pytest.raises(StateDatabaseError) as caught:
        PostgresBackend(bad, "acme", "local").read()
    assert PASSWORD not in str(caught.value)
    assert "postgresql://bob:***@[::1/db" in str(caught.value)


def test_cli_connection_error_exits_1_without_the_password(
    example: Project, pg: Pg, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_postgres(example, pg, monkeypatch)
    monkeypatch.setenv(URL_VAR, cluster.url("missing_db", password=PASSWORD))
    result = example.run("plan")
    assert result.exit_code == 1
    assert "Error: cannot connect to the state database postgresql://" in result.output
    assert PASSWORD not in result.output


@pytest.mark.parametrize(
    ("form", "shown"),
    [
        ("query", "?host={sock}&user={role}&password=***"),
        ("dsn", "user={role} dbname=missing_db password=***"),
        ("quoted dsn", "password=*** dbname=missing_db"),
        ("unencoded @", "postgresql://{role}:***@"),
    ],
)
def test_cli_never_shows_the_database_password_in_any_url_form(
    example: Project,
    pg: Pg,
    cluster: Cluster,
    monkeypatch: pytest.MonkeyPatch,
    form: str,
    shown: str,
) -> None:
    use_postgres(example, pg, monkeypatch)
    sock, role = cluster.socket_dir, cluster.role
    url = {
        "query": f"postgresql:///missing_db?host={sock}&user={role}&password={PASSWORD}",
        "dsn": f"host={sock} user={role} dbname=missing_db password={PASSWORD}",
        "quoted dsn": f"host={sock} user={role} password='{PASSWORD} \\' x' dbname=missing_db",
        # An `@` left unencoded in the password: libpq splits the URL there.
        "unencoded @": f"postgresql://{role}:{PASSWORD[:7]}@{PASSWORD[7:]}@/missing_db",
    }[form]
    monkeypatch.setenv(URL_VAR, url)
    result = example.run("plan")
    assert result.exit_code == 1
    assert shown.format(sock=sock, role=role) in result.output
    for piece in (PASSWORD[:7], PASSWORD[7:], "hunter", "Sup3r"):
        assert piece not in result.output, result.output
    assert "Traceback" not in result.output


def test_cli_unset_url_variable_is_named(
    example: Project, pg: Pg, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_postgres(example, pg, monkeypatch)
    monkeypatch.delenv(URL_VAR)
    result = example.run("plan")
    assert result.exit_code == 1
    assert (
        "sigmaform.yaml: state.url: environment variable SIGMAFORM_STATE_URL is not set"
        in result.output
    )


def test_cli_postgres_without_url_is_a_config_error(example: Project) -> None:
    example.edit(
        "sigmaform.yaml",
        'state: {backend: local, path: ".sigmaform/state/{environment}.json"}',
        "state: {backend: postgres}",
    )
    result = example.run("validate")
    assert result.exit_code == 1
    assert "sigmaform.yaml:9:8: state: missing required field `url`" in result.output


def test_cli_without_psycopg_says_which_extra_to_install(
    example: Project, pg: Pg, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_postgres(example, pg, monkeypatch)
    monkeypatch.delitem(sys.modules, "sigmaform.state_postgres")
    monkeypatch.setitem(sys.modules, "psycopg", None)
    result = example.run("plan")
    assert result.exit_code == 1
    assert (
        "Error: the postgres state backend needs psycopg: pip install 'psycopg[binary]>=3.1'"
        in result.output
    )


# -- plan/apply and state commands through the CLI --------------------------------------


def test_apply_then_plan_has_nothing_to_do_and_a_held_lock_refuses(
    example: Project, pg: Pg, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_postgres(example, pg, monkeypatch)
    result = example.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "Apply complete: 3 created." in result.output
    assert not (example.root / ".sigmaform" / "state").exists()
    stored = pg.backend().read()
    # One write per success, except that successes finishing together share a write; then
    # one that records the workspace the API named (once per environment).
    assert stored is not None and 2 <= stored.serial <= 4 and len(stored.resources) == 3
    assert stored.workspace is not None and stored.workspace.startswith("org_")
    plan = example.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    with psycopg.connect(pg.url) as conn:
        rows = conn.execute(
            f"SELECT document::text FROM {pg.schema}.states"
            f" UNION ALL SELECT document::text FROM {pg.schema}.state_history"
        ).fetchall()
    # The current row plus one history row per earlier write, none holding a secret.
    assert len(rows) == stored.serial and all("local-only" not in row[0] for row in rows)
    listed = example.run("state", "list")
    assert listed.exit_code == 0 and "agent.support" in listed.output

    example.edit("agents/support.yaml", "llmTemperature: 0.3", "llmTemperature: 0.6")
    before = len(example.journal())
    with pg.backend().lock(LockInfo("apply", who="ci-runner-7")):
        refused = example.run("apply", "--auto-approve")
    assert refused.exit_code == 3
    assert f"Error: state postgres:{pg.schema}/acme/local is locked by ci-runner-7@" in (
        refused.output
    )
    assert example.writes(before) == []
    assert example.run("apply", "--auto-approve").exit_code == 0
    assert example.run("plan", "--detailed-exitcode").exit_code == 0


def test_kill_9_mid_apply_frees_the_lock_and_the_next_apply_converges(
    example: Project, pg: Pg, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_postgres(example, pg, monkeypatch)
    example.emulator_dir.mkdir(parents=True)
    # Latency comes before the emulator acts, so a kill lands before, never after, a create.
    (example.emulator_dir / "emulator.json").write_text(json.dumps({"latency_ms": 400}))
    argv = ["-C", str(example.root), "-e", "local", "apply", "--auto-approve"]
    holder = subprocess.Popen(
        [sys.executable, "-m", "sigmaform", *argv, "--parallelism", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    backend = pg.backend()
    try:
        wait_for(backend.lock_holder, "the apply to take the lock")
        # A second apply from another process is refused at once, naming the holder.
        refused = example.run("apply", "--auto-approve")
        assert refused.exit_code == 3
        assert f"(pid {holder.pid}, apply, since " in refused.output
        seen = backend.read()
        before = 0 if seen is None else seen.serial

        def written() -> State | None:
            state = backend.read()
            return state if state is not None and state.serial > before else None

        # Kill just after a state write: the holder is then waiting out the next request's
        # latency, so no resource exists remotely that state does not record.
        first = wait_for(written, "a state write")
        os.kill(holder.pid, signal.SIGKILL)
    finally:
        holder.wait()
    assert holder.returncode == -signal.SIGKILL
    wait_for(lambda: not backend.is_locked(), "the server to drop the dead holder's lock")
    left = backend.read()
    assert left is not None and left.lineage == first.lineage and left.serial >= first.serial
    assert 1 <= len(left.resources) < 4
    # The dead holder's information row is stale, and `state unlock` clears it.
    unlocked = example.run("state", "unlock")
    assert unlocked.exit_code == 0
    assert "Removed the lock of " in unlocked.output
    assert f"(pid {holder.pid}, apply, since " in unlocked.output
    assert backend.lock_holder() is None
    (example.emulator_dir / "emulator.json").write_text(json.dumps({"latency_ms": 0}))
    again = example.run("apply", "--auto-approve")
    assert again.exit_code == 0, again.output
    assert len(example.agents()) == 3
    assert example.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_forced_push_keeps_the_replaced_state_in_history(
    example: Project, pg: Pg, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_postgres(example, pg, monkeypatch)
    theirs = pg.backend().write(State.new("local").with_resource("agent.x", a_resource(1)))
    LocalBackend(example.root / ".sigmaform" / "state" / "local.json").write(State.new("local"))
    forced = example.run("state", "push", "--force")
    assert forced.exit_code == 0, forced.output
    assert pg.backend().history_serials() == [theirs.serial]


def test_push_needs_a_shared_backend(example: Project) -> None:
    LocalBackend(example.root / ".sigmaform" / "state" / "local.json").write(State.new("local"))
    refused = example.run("state", "push")
    assert refused.exit_code == 1
    assert refused.output == (
        "Error: state push/pull copy state between the local file (state.path) and a shared "
        "backend, but this project's state.backend is `local`\n"
    )


def test_a_lost_session_mid_apply_is_a_clear_error(pg: Pg) -> None:
    holder = pg.backend()
    with holder.lock(LockInfo("apply")):
        state = holder.write(State.new("local"))
        with psycopg.connect(pg.url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name LIKE 'sigmaform apply%'"
            )
        with pytest.raises(LockLostError) as caught:
            holder.ensure_locked()
        with pytest.raises(LockLostError):
            holder.write(state)
    assert str(caught.value).startswith(
        f"lost the state lock on postgres:{pg.schema}/acme/local: the database session that"
        " held it ended ("
    )
    assert not pg.backend().is_locked()


def test_project_key_defaults_to_the_directory_name_and_schema_is_checked(
    example: Project, pg: Pg, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sigmaform.operations import backend_for, open_project

    use_postgres(example, pg, monkeypatch)
    example.edit("sigmaform.yaml", ", project: acme}", "}")
    backend = backend_for(open_project(example.root, "local"))
    assert backend.describe() == f"postgres:{pg.schema}/{example.root.name}/local"
    example.edit("sigmaform.yaml", f"schema: {pg.schema}", "schema: Bad-Name")
    result = example.run("validate")
    assert result.exit_code == 1
    assert 'state.schema: "Bad-Name" does not match the pattern' in result.output


def test_push_and_pull_name_what_is_missing_or_diverged(
    example: Project, pg: Pg, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_postgres(example, pg, monkeypatch)
    where = f"postgres:{pg.schema}/acme/local"
    nothing = example.run("state", "push")
    assert nothing.exit_code == 1
    assert nothing.output == "Error: no local state at .sigmaform/state/local.json to push\n"
    nothing = example.run("state", "pull")
    assert nothing.exit_code == 1 and nothing.output == f"Error: no state in {where} to pull\n"

    state_file = example.root / ".sigmaform" / "state" / "local.json"
    mine = LocalBackend(state_file).write(State.new("local"))
    pg.backend().store(mine.with_resource("agent.x", a_resource(1)), None)
    diverged = example.run("state", "push")
    assert diverged.exit_code == 3
    assert (
        f"Error: {where} and .sigmaform/state/local.json both have serial 1 but differ; "
        "pass --force to replace it"
    ) in diverged.output

    LocalBackend(state_file).write(replace(mine, environment="prod"))
    wrong = example.run("state", "push")
    assert wrong.exit_code == 1
    assert wrong.output == (
        "Error: .sigmaform/state/local.json belongs to environment `prod`, not `local`\n"
    )


def test_a_lock_lost_mid_apply_stops_it_and_a_second_apply_makes_no_duplicate(
    example: Project, pg: Pg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An administrator's pg_terminate_backend on the holder (what a hung apply invites)
    while a second apply waits: the first stops at once, the second never duplicates."""
    use_postgres(example, pg, monkeypatch)
    bulk = 40
    for n in range(bulk):
        (example.root / "agents" / f"bulk-{n}.yaml").write_text(
            f"kind: Agent\nname: bulk-{n}\nspec:\n  agentName: Bulk {n}\n"
            "  instructions: Be brief.\n"
        )
    example.emulator_dir.mkdir(parents=True)
    (example.emulator_dir / "emulator.json").write_text(json.dumps({"latency_ms": 150}))
    argv = [sys.executable, "-m", "sigmaform", "-C", str(example.root), "-e", "local", "apply"]
    argv += ["--auto-approve", "--parallelism", "4"]

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
        )

    first = start()
    backend = pg.backend()
    try:
        wait_for(
            lambda: (s := backend.read()) is not None and len(s.resources) >= 6,
            "the first apply to record some agents",
        )
        with psycopg.connect(pg.url, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name LIKE 'sigmaform apply%'"
            ).fetchall()
        assert ended == [(True,)]
        second = start()
        out1, err1 = first.communicate(timeout=60)
        out2, err2 = second.communicate(timeout=120)
    finally:
        for proc in (first, locals().get("second")):
            if isinstance(proc, subprocess.Popen) and proc.poll() is None:
                proc.kill()
                proc.wait()
    names = [a["agentName"] for a in example.agents()]
    assert len(set(names)) == len(names), "duplicate agents"
    # Every agent was created exactly once: no create was repeated by the second apply.
    posts = [e for e in example.journal() if e["method"] == "POST"]
    assert len(posts) == len(names) <= bulk + 3
    assert first.returncode == 1, out1 + err1
    assert f"Error: lost the state lock on postgres:{pg.schema}/acme/local: the database " in err1
    assert "The apply stopped at once and sends nothing more" in err1
    assert "Traceback" not in err1 + err2
    assert second.returncode == 0, out2 + err2
    (example.emulator_dir / "emulator.json").write_text(json.dumps({"latency_ms": 0}))
    final = example.run("apply", "--auto-approve")
    assert final.exit_code == 0, final.output
    assert len(example.agents()) == bulk + 3
    assert example.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_lock_lost_mid_apply_sends_no_further_request(
    example: Project, pg: Pg, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_postgres(example, pg, monkeypatch)
    for n in range(30):
        (example.root / "agents" / f"bulk-{n}.yaml").write_text(
            f"kind: Agent\nname: bulk-{n}\nspec:\n  agentName: Bulk {n}\n"
        )
    example.emulator_dir.mkdir(parents=True)
    (example.emulator_dir / "emulator.json").write_text(json.dumps({"latency_ms": 150}))
    argv = [sys.executable, "-m", "sigmaform", "-C", str(example.root), "-e", "local", "apply"]
    holder = subprocess.Popen(
        [*argv, "--auto-approve", "--parallelism", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    backend = pg.backend()
    try:
        recorded = wait_for(
            lambda: (s := backend.read()) is not None and len(s.resources) >= 4 and s,
            "the apply to record some agents",
        )
        with psycopg.connect(pg.url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name LIKE 'sigmaform apply%'"
            )
        _, err = holder.communicate(timeout=60)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert holder.returncode == 1 and "Error: lost the state lock on " in err
    # At termination at most two requests were in flight (parallelism 2), each followed by
    # at most one state write that fails: nothing is sent after that.
    sent = len(example.writes())
    assert sent <= len(recorded.resources) + 2 + 2, sent
    left = backend.read()
    assert left is not None and len(left.resources) <= sent


# -- the row layout: a header, a row per resource, blobs by digest ------------------------


LONG = "You are a careful support agent.\n" * 30


def _rows(pg: Pg) -> dict[str, int]:
    """Each stored resource row's serial (the write that last changed it)."""
    with psycopg.connect(pg.url) as conn:
        found = conn.execute(
            f"SELECT address, serial FROM {pg.schema}.state_resources ORDER BY address"
        ).fetchall()
    return {str(a): int(s) for a, s in found}


def test_a_write_sends_only_the_resources_that_changed(pg: Pg) -> None:
    backend = pg.backend()
    state = State.new("local")
    for n in range(50):
        prompt = f"{LONG}agent {n}"
        state = state.with_resource(f"agent.a{n}", replace(a_resource(n), applied={"p": prompt}))
    state = backend.write(state)
    assert set(_rows(pg).values()) == {1}
    with psycopg.connect(pg.url) as conn:
        header = conn.execute(f"SELECT document FROM {pg.schema}.states").fetchone()
        blobs = conn.execute(f"SELECT count(*) FROM {pg.schema}.state_blobs").fetchone()
    assert header is not None and "resources" not in header[0] and header[0]["serial"] == 1
    assert blobs == (50,)

    # A whole-state write (as `state rm` makes) of a state differing in one resource.
    sent = backend.sent_bytes
    changed = state.with_resource("agent.a7", replace(a_resource(7), applied={"p": LONG + "!"}))
    state = backend.write(changed)
    assert _rows(pg) == {**{f"agent.a{n}": 1 for n in range(50)}, "agent.a7": 2}
    one = backend.sent_bytes - sent
    assert one < len(LONG) + 3000  # the new text, one row, the header: not 50 rows

    # An apply's append names the change itself; another process reads all of it.
    sent = backend.sent_bytes
    state = backend.append(state.without("agent.a8"), [("agent.a8", None)])
    assert backend.sent_bytes - sent < 2000 and "agent.a8" not in _rows(pg)
    fresh = pg.backend().read()
    assert fresh == state and fresh.resources["agent.a7"].applied["p"] == LONG + "!"
    assert pg.backend().history_serials() == [2, 1]


def test_a_state_in_the_one_row_layout_is_read_and_migrated_on_the_next_write(pg: Pg) -> None:
    # What the previous release left: the tables it made and one row holding the whole
    # document (the v0.2 state file of tests/fixtures).
    old = json.loads(FIXTURE_V1.read_text())
    pg.backend(env="other").write(State.new("other"))  # creates the schema's tables
    with psycopg.connect(pg.url) as conn:
        conn.execute(f"DROP TABLE {pg.schema}.state_resources, {pg.schema}.state_blobs")
        conn.execute(
            f"INSERT INTO {pg.schema}.states (project, environment, lineage, serial, document)"
            " VALUES ('acme', 'local', %s, %s, %s)",
            [old["lineage"], old["serial"], json.dumps(old)],
        )
    backend = pg.backend()
    state = backend.read()
    assert state == State.from_dict(old, "fixture") and state.serial == old["serial"]

    # The next write, whatever it changes, stores every resource as a row.
    written = backend.append(state.without("agent.receptionist"), [("agent.receptionist", None)])
    assert set(_rows(pg)) == {"agent.appointment-reminder", "agent.support"}
    with psycopg.connect(pg.url) as conn:
        previous = conn.execute(
            f"SELECT document FROM {pg.schema}.state_history WHERE serial = %s", [old["serial"]]
        ).fetchone()
        texts = conn.execute(f"SELECT content FROM {pg.schema}.state_blobs").fetchall()
    assert previous is not None and previous[0] == old  # the old document, kept whole
    prompt = old["resources"]["agent.support"]["applied"]["instructions"]
    assert (prompt,) in texts
    again = pg.backend().read()
    assert again == written and again.resources["agent.support"] == state.resources["agent.support"]


def test_version_2_rows_are_read_and_all_rewritten_by_the_next_write(pg: Pg) -> None:
    # What the previous layout's release left: a version 2 header, rows with `kind`, long
    # digests and fingerprints (tests/fixtures/state-v2, written by that release).
    fixture = FIXTURE_V2 / "state" / "local.json"
    old = json.loads(fixture.read_text())
    backend = pg.backend()
    backend.store(State.from_dict(old, "fixture", LocalBackend(fixture).blobs), None)
    header = {k: v for k, v in old.items() if k != "resources"}
    with psycopg.connect(pg.url) as conn:
        conn.execute(f"UPDATE {pg.schema}.states SET document = %s", [json.dumps(header)])
        for address, record in old["resources"].items():
            conn.execute(
                f"UPDATE {pg.schema}.state_resources SET record = %s WHERE address = %s",
                [json.dumps(record), address],
            )
    reader = pg.backend()
    state = reader.read()
    assert state is not None and state.resources == State.from_dict(old, "fixture").resources

    # One change, but every row is rewritten in this version's form: none is left behind
    # under a version 3 header.
    support = state.resources["agent.support"]
    changed = replace(support, applied={**support.applied, "welcomeMessage": "Hello"})
    reader.append(state.with_resource("agent.support", changed), [("agent.support", changed)])
    with psycopg.connect(pg.url) as conn:
        (version,) = conn.execute(
            f"SELECT document -> 'version' FROM {pg.schema}.states"
        ).fetchone()
        records = conn.execute(f"SELECT record FROM {pg.schema}.state_resources").fetchall()
    assert version == 3 and len(records) == len(old["resources"])
    assert not any("kind" in r or "sensitive:v2:" in json.dumps(r) for (r,) in records)
    again = pg.backend().read()
    assert again is not None and again.resources["agent.support"] == changed


def test_a_missing_blob_is_a_clear_error_naming_the_table_and_digest(pg: Pg) -> None:
    backend = pg.backend()
    backend.write(
        State.new("local").with_resource("agent.a", replace(a_resource(1), applied={"p": LONG}))
    )
    with psycopg.connect(pg.url) as conn:
        conn.execute(f"DELETE FROM {pg.schema}.state_blobs")
    state = pg.backend().read()
    assert state is not None and state.resources["agent.a"].applied["p"] == LONG  # by digest
    digest = "sha256:" + hashlib.sha256(LONG.encode()).hexdigest()[:32]
    with pytest.raises(ConfigError) as caught:
        _ = state.resources["agent.a"].applied["p"].text
    assert caught.value.exit_code == 1
    assert str(caught.value) == (
        f"postgres:{pg.schema}/acme/local (table {pg.schema}.state_blobs): state blob {digest} "
        "is missing: the state refers to text that is not stored (restore it from a backup or "
        "copy of the state, or re-apply with `state rm` and `import`)"
    )


def test_push_and_pull_carry_the_blobs(
    example: Project, pg: Pg, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert example.run("apply", "--auto-approve").exit_code == 0
    local = example.state()
    use_postgres(example, pg, monkeypatch)
    assert example.run("state", "push").exit_code == 0
    stored = pg.backend().read()
    assert stored is not None and stored.to_dict() == local
    with psycopg.connect(pg.url) as conn:
        (count,) = conn.execute(f"SELECT count(*) FROM {pg.schema}.state_blobs").fetchone()
    assert count == len(re.findall(r'"\$(?:blob|json)"', json.dumps(local)))

    state_file = example.root / ".sigmaform" / "state" / "local.json"
    state_file.unlink()
    shutil.rmtree(state_file.with_name("local.json.blobs"))
    pulled = example.run("state", "pull")
    assert pulled.exit_code == 0, pulled.output
    assert example.state() == local
    assert example.run("plan", "--detailed-exitcode").exit_code == 0
    example.edit("agents/prompts/support.md", "You are calm", "You are patient")
    plan = example.run("plan", "--no-refresh", "--detailed-exitcode")
    assert plan.exit_code == 2 and "You are patient" in plan.output


def test_the_header_row_carries_every_top_level_field(pg: Pg) -> None:
    # `tests` (the last `sigmaform test` results) lives beside lineage and serial.
    tests = {
        "agent.a1": {
            "agentDigest": "sha256:a",
            "cases": {},
            "successful": 3,
            "attempts": 3,
            "verdict": "passed",
            "ranAt": "2026-01-01T00:00:00Z",
        }
    }
    state = replace(State.new("local").with_resource("agent.a1", a_resource(1)), tests=tests)
    written = pg.backend().write(state)
    with psycopg.connect(pg.url) as conn:
        header = conn.execute(f"SELECT document FROM {pg.schema}.states").fetchone()
    assert header is not None and header[0]["tests"] == tests
    assert pg.backend().read() == written
