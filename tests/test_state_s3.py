"""The S3 state backend against a real S3-compatible server (moto's, on loopback): ETag
compare-and-set writes, the lock object, unlock of a dead holder, push/pull, and errors
that name the bucket and key but never the credentials."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import replace

import pytest
from conftest import Project
from s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY
from shared_backends import a_resource, wait_for
from shared_state import LOCAL_STATE_LINE, S3, use_s3

from sigmaform.errors import ConfigError, LockHeldError, LockLostError, StalePlanError
from sigmaform.state import LockInfo, State

boto3 = pytest.importorskip("boto3", reason="boto3 is not installed (the s3 extra)")

from botocore.exceptions import ClientError  # noqa: E402

from sigmaform.state_s3 import S3Backend, StateStorageError  # noqa: E402

# -- the backend ------------------------------------------------------------------------


def test_a_conditional_store_names_what_it_found(s3: S3) -> None:
    """A process that never read the object compares with what is there (the lost update
    itself: test_state_shared.py)."""
    backend = s3.backend()
    mine = backend.write(State.new("local"))
    stored = backend.write(mine.with_resource("agent.one", a_resource(1)))
    with pytest.raises(StalePlanError, match=r"expected serial 7, found serial 2"):
        s3.backend().store(replace(mine, serial=8), (mine.lineage, 7))
    other = State.new("local")
    with pytest.raises(StalePlanError, match=r"found serial 2 with a different lineage"):
        s3.backend().store(replace(other, serial=3), (other.lineage, 2))
    assert s3.backend().read() == stored


def test_the_write_is_conditional_on_the_etag_not_on_the_serial(s3: S3) -> None:
    """Someone replaces the object with the same serial: the ETag still tells."""
    backend = s3.backend()
    state = backend.write(State.new("local"))
    sneaky = state.with_resource("agent.x", a_resource(1))
    s3.client().put_object(
        Bucket=s3.bucket, Key="agents/local.json", Body=json.dumps(sneaky.to_dict()).encode()
    )
    with pytest.raises(StalePlanError, match=r"expected serial 1, found serial 1"):
        backend.write(state)
    assert s3.backend().read() == sneaky


def test_a_versioned_bucket_keeps_every_state(s3: S3) -> None:
    s3.client().put_bucket_versioning(
        Bucket=s3.bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    backend = s3.backend()
    state = backend.write(State.new("local"))
    for n in range(3):
        state = backend.write(state.with_resource(f"agent.a{n}", a_resource(n)))
    versions = s3.client().list_object_versions(Bucket=s3.bucket, Prefix="agents/local.json")
    kept = [v for v in versions["Versions"] if v["Key"] == "agents/local.json"]
    assert len(kept) == 4
    serials = []
    for version in kept:
        body = s3.client().get_object(
            Bucket=s3.bucket, Key="agents/local.json", VersionId=version["VersionId"]
        )["Body"]
        serials.append(json.loads(body.read())["serial"])
    assert sorted(serials) == [1, 2, 3, 4]


def test_release_leaves_a_lock_that_is_no_longer_ours(s3: S3) -> None:
    first, second = s3.backend(), s3.backend()
    with first.lock(LockInfo("apply", who="alice")):
        removed = second.force_unlock()
        assert removed is not None and removed.who == "alice"
        with second.lock(LockInfo("apply", who="bob")):
            pass  # bob's lock is his own: leaving it to alice's release would be wrong
        second_again = LockInfo("apply", who="carol")
        lock = second.lock(second_again)
        lock.__enter__()
    # alice's block ended while carol held the lock: carol's lock stays.
    assert second.lock_holder() == second_again
    lock.__exit__(None, None, None)
    assert second.lock_holder() is None


def test_a_damaged_lock_object_still_locks(s3: S3) -> None:
    s3.client().put_object(Bucket=s3.bucket, Key="agents/local.json.lock", Body=b"not json")
    backend = s3.backend()
    with pytest.raises(LockHeldError, match=r"locked by unknown@unknown"):
        backend.lock(LockInfo("apply")).__enter__()
    assert backend.is_locked()
    assert backend.force_unlock() is not None
    with backend.lock(LockInfo("apply")):
        pass


def test_a_damaged_state_object_is_named(s3: S3) -> None:
    s3.client().put_object(Bucket=s3.bucket, Key="agents/local.json", Body=b"{nope")
    with pytest.raises(Exception, match=rf"^s3://{s3.bucket}/agents/local.json: invalid JSON"):
        s3.backend().read()


# -- errors name the bucket and key, never the credentials -------------------------------


def test_a_missing_bucket_is_named_without_the_credentials(
    example: Project, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_s3(example, s3)
    example.edit("sigmaform.yaml", f"bucket: {s3.bucket}", "bucket: no-such-bucket")
    result = example.run("plan")
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: cannot read state s3://no-such-bucket/agents/local.json: "
    )
    assert ACCESS_KEY_ID not in result.output and SECRET_ACCESS_KEY not in result.output


def test_an_unreachable_endpoint_is_named(example: Project, s3: S3) -> None:
    use_s3(example, s3)
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    example.edit("sigmaform.yaml", s3.endpoint, f"http://127.0.0.1:{closed}")
    result = example.run("plan")
    assert result.exit_code == 1
    assert result.output.startswith(
        f"Error: cannot read state s3://{s3.bucket}/agents/local.json: "
    )


def test_no_credentials_says_where_they_come_from(
    example: Project, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_s3(example, s3)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(example.root / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(example.root / "no-config"))
    result = example.run("plan")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: cannot read state s3://{s3.bucket}/agents/local.json: no AWS credentials "
        "found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)\n"
    )


def test_credentials_in_a_service_message_are_scrubbed(s3: S3) -> None:
    backend = s3.backend()
    backend.read()  # opens the session whose credentials are known
    refusal = ClientError(
        {
            "Error": {
                "Code": "SignatureDoesNotMatch",
                "Message": (
                    f"key {ACCESS_KEY_ID} secret {SECRET_ACCESS_KEY} other AKIAABCDEFGHIJKLMNOP"
                ),
            },
            "ResponseMetadata": {"HTTPStatusCode": 403},
        },
        "GetObject",
    )
    message = str(backend._failure("cannot read state", refusal))
    assert message == (
        f"cannot read state s3://{s3.bucket}/agents/local.json: SignatureDoesNotMatch "
        "(key *** secret *** other ***)"
    )
    assert isinstance(backend._failure("x", refusal), StateStorageError)


# -- sigmaform.yaml ----------------------------------------------------------------------


def test_s3_settings_are_checked_with_file_and_line(example: Project) -> None:
    example.edit("sigmaform.yaml", LOCAL_STATE_LINE, "state: {backend: s3, region: eu-west-1}")
    result = example.run("validate")
    assert result.exit_code == 1
    assert "sigmaform.yaml:9:8: state: missing required field `bucket`" in result.output

    example.edit("sigmaform.yaml", "region: eu-west-1", "bucket: b-1, regoin: eu-west-1")
    result = example.run("validate")
    assert result.exit_code == 1
    assert re.search(r"sigmaform\.yaml:9:\d+: state(\.regoin)?: .*regoin", result.output)

    example.edit("sigmaform.yaml", "regoin: eu-west-1", "url: postgresql://x@db/y")
    result = example.run("validate")
    assert result.exit_code == 1
    assert "sigmaform.yaml:9:35: state.url: not a setting of the s3 backend" in result.output

    example.edit("sigmaform.yaml", "url: postgresql://x@db/y", 'endpointUrl: "ftp://x"')
    assert example.run("validate").exit_code == 1


def test_the_key_defaults_per_environment(example: Project, s3: S3) -> None:
    from sigmaform.operations import backend_for, open_project

    example.edit("sigmaform.yaml", LOCAL_STATE_LINE, f"state: {{backend: s3, bucket: {s3.bucket}}}")
    backend = backend_for(open_project(example.root, "local"))
    assert backend.describe() == f"s3://{s3.bucket}/sigmaform/local.json"


def test_without_boto3_says_which_extra_to_install(
    example: Project, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_s3(example, s3)
    monkeypatch.delitem(sys.modules, "sigmaform.state_s3")
    monkeypatch.setitem(sys.modules, "boto3", None)
    result = example.run("plan")
    assert result.exit_code == 1
    assert result.output == ("Error: the s3 state backend needs boto3: pip install 'boto3>=1.36'\n")


def test_version_and_a_local_plan_do_not_import_boto3(example: Project) -> None:
    probe = (
        "import sys\n"
        "from sigmaform.cli import cli\n"
        "try:\n"
        "    cli(sys.argv[1:], prog_name='sigmaform')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))\n"
    )
    for argv in (["--version"], ["-C", str(example.root), "-e", "local", "plan"]):
        done = subprocess.run(
            [sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=False
        )
        assert done.stdout.splitlines()[-1] == "[]", done.stdout + done.stderr


# -- plan/apply and state commands through the CLI --------------------------------------


def test_apply_then_plan_has_nothing_to_do_and_a_held_lock_refuses(
    example: Project, s3: S3
) -> None:
    use_s3(example, s3)
    result = example.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "Apply complete: 3 created." in result.output
    assert not (example.root / ".sigmaform" / "state").exists()
    stored = s3.backend().read()
    # At most one write per success (group commit may join them), plus one recording the
    # workspace the API reported.
    assert stored is not None and 1 <= stored.serial <= 4 and len(stored.resources) == 3
    assert stored.workspace is not None
    assert example.run("plan", "--detailed-exitcode").exit_code == 0
    # The lock object is gone; the prompts are stored once each, beside the document.
    blobs = [o for o in s3.objects() if o.startswith("agents/local.json.blobs/sha256/")]
    assert blobs and sorted(set(s3.objects()) - set(blobs)) == ["agents/local.json"]
    body = s3.client().get_object(Bucket=s3.bucket, Key="agents/local.json")["Body"].read()
    assert b"local-only" not in body  # secrets are fingerprints in state

    example.edit("agents/support.yaml", "llmTemperature: 0.3", "llmTemperature: 0.6")
    before = len(example.journal())
    with s3.backend().lock(LockInfo("apply", who="ci-runner-7")):
        refused = example.run("apply", "--auto-approve")
    assert refused.exit_code == 3
    assert f"Error: state s3://{s3.bucket}/agents/local.json is locked by ci-runner-7@" in (
        refused.output
    )
    assert example.writes(before) == []
    assert example.run("apply", "--auto-approve").exit_code == 0
    assert example.run("plan", "--detailed-exitcode").exit_code == 0


def _apply_in_background(example: Project, latency_ms: int, *extra: str) -> subprocess.Popen[bytes]:
    example.emulator_dir.mkdir(parents=True, exist_ok=True)
    # Latency comes before the emulator acts, so a kill lands before, never after, a create;
    # a second each keeps the apply running while a loaded machine starts the other one.
    (example.emulator_dir / "emulator.json").write_text(json.dumps({"latency_ms": latency_ms}))
    argv = ["-C", str(example.root), "-e", "local", "apply", "--auto-approve", *extra]
    return subprocess.Popen(
        [sys.executable, "-m", "sigmaform", *argv, "--parallelism", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
    )


def test_a_killed_holder_leaves_its_lock_which_unlock_clears_and_apply_converges(
    example: Project, s3: S3
) -> None:
    use_s3(example, s3)
    holder = _apply_in_background(example, 1000)
    backend = s3.backend()
    try:
        wait_for(backend.lock_holder, "the apply to take the lock")
        # A second apply, concurrent with the first, is refused at once naming the holder.
        refused = example.run("apply", "--auto-approve")
        assert refused.exit_code == 3
        assert f"(pid {holder.pid}, apply, since " in refused.output
        assert "wait for it to finish" in refused.output
        seen = backend.read()
        before = 0 if seen is None else seen.serial

        def written() -> State | None:
            state = backend.read()
            return state if state is not None and state.serial > before else None

        first = wait_for(written, "a state write")
        os.kill(holder.pid, signal.SIGKILL)
    finally:
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    assert holder.returncode == -signal.SIGKILL
    # The lock object outlives its holder, and names it.
    dead = backend.lock_holder()
    assert dead is not None and dead.pid == holder.pid and dead.operation == "apply"
    assert not backend.is_locked()  # same host, pid gone: known to be dead
    (example.emulator_dir / "emulator.json").write_text(json.dumps({"latency_ms": 0}))
    refused = example.run("apply", "--auto-approve")
    assert refused.exit_code == 3
    assert f"(pid {holder.pid}, apply, since {dead.created}), which is no longer running: " in (
        refused.output
    )
    assert f"run `{example.command('state', 'unlock')}` to remove its lock" in refused.output
    left = backend.read()
    assert left is not None and left.lineage == first.lineage and left.serial >= first.serial
    assert 1 <= len(left.resources) < 4

    unlocked = example.run("state", "unlock")
    assert unlocked.exit_code == 0, unlocked.output
    assert unlocked.output == f"Removed the lock of {dead.describe()}.\n"
    assert backend.lock_holder() is None
    again = example.run("apply", "--auto-approve")
    assert again.exit_code == 0, again.output
    assert len(example.agents()) == 3
    assert example.run("plan", "--detailed-exitcode").exit_code == 0


def test_unlock_of_a_holder_on_another_host_needs_force(example: Project, s3: S3) -> None:
    use_s3(example, s3)
    elsewhere = LockInfo("apply", who="ci-runner-7", host="runner-host", pid=4242)
    # The lock of a runner that was killed: never released.
    body = json.dumps({**elsewhere.to_dict(), "token": "t"}).encode()
    s3.client().put_object(Bucket=s3.bucket, Key="agents/local.json.lock", Body=body)
    refused = example.run("state", "unlock")
    assert refused.exit_code == 3
    assert refused.output == (
        f"Error: the lock is held by {elsewhere.describe()} on another host, which may still "
        "be running: if it is gone, use --force\n"
    )
    assert s3.backend().lock_holder() == elsewhere
    forced = example.run("state", "unlock", "--force")
    assert forced.exit_code == 0
    assert forced.output == f"Removed the lock of {elsewhere.describe()}.\n"
    assert example.run("state", "unlock").output.startswith("No lock information found")
    assert example.run("apply", "--auto-approve").exit_code == 0


def test_a_write_behind_the_lock_fails_the_apply_with_exit_3_and_is_kept(
    example: Project, s3: S3
) -> None:
    """Someone removed the lock and wrote state mid-apply: the apply's next write is refused."""
    use_s3(example, s3)
    holder = _apply_in_background(example, 1000)
    backend = s3.backend()
    try:
        first = wait_for(backend.read, "the apply's first state write")
        theirs = backend.store(
            replace(first, serial=first.serial + 10).with_resource("agent.x", a_resource(9)),
            (first.lineage, first.serial),
        )
        output, _ = holder.communicate(timeout=60)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    text = output.decode()
    assert holder.returncode == 3, text
    assert (
        f"state s3://{s3.bucket}/agents/local.json was written by someone else since it was read"
    ) in text
    assert "the apply stopped at once and sends nothing more" in text
    assert s3.backend().read() == theirs  # nothing lost
    assert s3.backend().lock_holder() is None  # the refused apply released its lock


def test_s3_settings_are_hand_checked_without_the_schema(
    example: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sigmaform import projectfile

    monkeypatch.setattr(projectfile, "schema_exists", lambda name: False)
    example.edit("sigmaform.yaml", LOCAL_STATE_LINE, "state: {backend: s3, schema: x}")
    result = example.run("validate")
    assert result.exit_code == 1
    assert "sigmaform.yaml:9:8: state: the s3 backend needs `bucket`, e.g. acme-sigmaform" in (
        result.output
    )
    assert "sigmaform.yaml:9:22: state.schema: not a setting of the s3 backend" in result.output
    example.edit("sigmaform.yaml", "backend: s3, schema: x", 'backend: postgres, url: u, key: ""')
    result = example.run("validate")
    assert result.exit_code == 1
    assert "state.key: not a setting of the postgres backend" in result.output


def test_every_request_on_a_missing_bucket_names_the_object(s3: S3) -> None:
    backend = S3Backend(
        "no-such-bucket", "agents/local.json", region=REGION, endpoint_url=s3.endpoint
    )
    where = "s3://no-such-bucket/agents/local.json"
    with pytest.raises(StateStorageError, match=rf"^cannot write state {where}: "):
        backend.write(State.new("local"))
    with pytest.raises(StateStorageError, match=rf"^cannot take the state lock at {where}.lock: "):
        backend.lock(LockInfo("apply")).__enter__()
    with pytest.raises(StateStorageError, match=rf"^cannot read the state lock at {where}.lock: "):
        backend.force_unlock()


def test_of_many_lock_attempts_at_the_same_moment_exactly_one_wins(s3: S3) -> None:
    backends = [s3.backend() for _ in range(6)]
    for backend in backends:
        backend.read()  # clients ready, so the attempts really start together
    start = threading.Barrier(len(backends))
    results: list[str] = []
    release = threading.Event()

    def attempt(backend: S3Backend) -> None:
        start.wait()
        try:
            with backend.lock(LockInfo("apply")):
                results.append("locked")
                release.wait(30)
        except LockHeldError:
            results.append("refused")

    threads = [threading.Thread(target=attempt, args=(b,)) for b in backends]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(results) == len(backends), "every attempt to finish or hold")
    release.set()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["locked"] + ["refused"] * (len(backends) - 1)
    assert s3.backend().lock_holder() is None


def test_two_applies_started_together_one_is_refused_with_exit_3(example: Project, s3: S3) -> None:
    use_s3(example, s3)
    first = _apply_in_background(example, 1000)
    second = _apply_in_background(example, 1000)
    outputs = [p.communicate(timeout=120)[0].decode() for p in (first, second)]
    codes = sorted(p.returncode for p in (first, second))
    assert codes == [0, 3], outputs
    refused = next(o for o, p in zip(outputs, (first, second), strict=True) if p.returncode == 3)
    assert f"state s3://{s3.bucket}/agents/local.json is locked by " in refused
    (example.emulator_dir / "emulator.json").write_text(json.dumps({"latency_ms": 0}))
    assert len(example.agents()) == 3
    assert example.run("plan", "--detailed-exitcode").exit_code == 0


def test_with_a_lock_timeout_two_applies_run_in_turn(example: Project, s3: S3) -> None:
    use_s3(example, s3)
    first = _apply_in_background(example, 300, "--lock-timeout", "2m")
    second = _apply_in_background(example, 300, "--lock-timeout", "2m")
    outputs = [p.communicate(timeout=240)[0].decode() for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    (example.emulator_dir / "emulator.json").write_text(json.dumps({"latency_ms": 0}))
    assert len(example.agents()) == 3  # the one that waited found them made: no duplicate
    assert s3.backend().lock_holder() is None
    assert example.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_lock_removed_under_a_running_apply_stops_its_writes(example: Project, s3: S3) -> None:
    use_s3(example, s3)
    holder = _apply_in_background(example, 1000)
    backend = s3.backend()
    try:
        wait_for(backend.read, "the apply's first state write")
        # Someone believed it dead: forced the unlock, and another run took the lock.
        backend.force_unlock()
        taker = LockInfo("apply", who="bob", host="runner-host", pid=7)
        body = json.dumps({**taker.to_dict(), "token": "t"}).encode()
        s3.client().put_object(Bucket=s3.bucket, Key="agents/local.json.lock", Body=body)
        output, _ = holder.communicate(timeout=120)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    text = output.decode()
    assert holder.returncode == 1, text
    # The apply may look between the unlock and bob's take: either is the truth then.
    reasons = ("its lock object was removed", f"its lock object now names {taker.describe()}")
    assert any(
        f"lost the state lock on s3://{s3.bucket}/agents/local.json: {reason}. The apply "
        "stopped at once and sends nothing more" in text
        for reason in reasons
    ), text
    assert s3.backend().lock_holder() == taker  # bob's lock is left alone


def test_ensure_locked_names_a_removed_lock(s3: S3) -> None:
    backend = s3.backend()
    with backend.lock(LockInfo("apply")):
        backend.ensure_locked()
        s3.backend().force_unlock()
        with pytest.raises(LockLostError, match=r": its lock object was removed\. The apply"):
            backend.ensure_locked()
        taker = LockInfo("apply", who="bob", host="runner-host", pid=7)
        body = json.dumps({**taker.to_dict(), "token": "t"}).encode()
        s3.client().put_object(Bucket=s3.bucket, Key="agents/local.json.lock", Body=body)
        with pytest.raises(LockLostError, match=r": its lock object now names bob@runner-host"):
            backend.ensure_locked()
    with pytest.raises(LockLostError):
        backend.ensure_locked()  # not held at all


def test_long_text_is_stored_once_under_the_blob_prefix_and_a_missing_one_is_named(
    s3: S3,
) -> None:
    prompt = "You are a careful support agent.\n" * 30
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:32]
    agents = [replace(a_resource(n), applied={"instructions": prompt}) for n in (1, 2)]
    state = State.new("local")
    for n, agent in enumerate(agents, start=1):
        state = state.with_resource(f"agent.a{n}", agent)
    written = s3.backend().write(state)
    blob = f"agents/local.json.blobs/sha256/{digest}"
    assert s3.objects() == ["agents/local.json", blob]  # two references, one object
    body = s3.client().get_object(Bucket=s3.bucket, Key="agents/local.json")["Body"].read()
    assert prompt.encode() not in body

    read = s3.backend().read()
    assert read is not None and read == written  # compared by digest: no blob read
    s3.client().delete_object(Bucket=s3.bucket, Key=blob)
    with pytest.raises(ConfigError) as caught:
        _ = read.resources["agent.a1"].applied["instructions"].text
    assert caught.value.exit_code == 1
    assert str(caught.value).startswith(
        f"s3://{s3.bucket}/{blob}: state blob sha256:{digest} is missing"
    )
