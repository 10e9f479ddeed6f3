"""State: what sigmaform last applied per environment, its storage, and the apply lock.

The planner sees only the `State` value; where it is kept is a `StateBackend`. The local
backend is a JSON file written atomically (with a backup of the previous version) and a
lock file held with the operating system's file lock (`filelock`: flock on Unix, a
byte-range lock on Windows) for the whole apply, so a killed process never leaves a lock
that blocks the next run: the kernel drops it with the process. The lock file itself is
never unlinked by sigmaform: a second process would otherwise lock a new file of the same
name while the first still holds the old one. The holder's details live in a file beside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sigmaform import invocation, state_journal
from sigmaform.digest import short_digest
from sigmaform.errors import ConfigError, LockHeldError, Problem, RefusedError, StalePlanError
from sigmaform.files import write_atomic
from sigmaform.jsonfile import read_json_file
from sigmaform.sensitive import fingerprint_key, from_v2
from sigmaform.state_blobfiles import LocalBlobs
from sigmaform.state_blobs import BlobReader, TextRef, decode, encode, materialize
from sigmaform.state_check import address_kind, state_problems

if TYPE_CHECKING:
    from sigmaform.resource import Project

# 2: long applied text out of line as `{"$blob": ...}` markers, user `$` keys escaped
# (state_blobs). 3: long arrays out of line too (`{"$json": ...}`), 128-bit digests and
# fingerprints, no `kind` in a record (its address says it). Documents of versions 1 and
# 2 are read (their digests and fingerprints shortened as read) and written as 3.
STATE_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
Blobs = dict[str, "str | TextRef"]  # the long texts a document refers to, by digest


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ResourceState:
    """One managed resource as last applied."""

    kind: str
    id: str
    applied: dict[str, Any]  # declared fields as the server holds them; secrets as fingerprints
    config_digest: str
    applied_at: str
    protect: bool = False
    # Server-assigned ids of nested items, e.g. {"webhooks": {"events": "wh_..."}} (by name).
    nested_ids: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_dict(self, blobs: Blobs | None = None, *, inline: bool = False) -> dict[str, Any]:
        """The stored record: long values as markers, collected into `blobs`, and no kind
        (the address names it); or, `inline`, everything as text with its kind: for
        showing it."""
        out: dict[str, Any] = {
            "id": self.id,
            "applied": materialize(self.applied)
            if inline
            else encode(self.applied, {} if blobs is None else blobs),
            "configDigest": self.config_digest,
            "appliedAt": self.applied_at,
        }
        if inline:
            out["kind"] = self.kind
        if self.protect:
            out["protect"] = True
        if self.nested_ids:
            out["nestedIds"] = self.nested_ids
        return out

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        blobs: BlobReader | None = None,
        *,
        address: str,
        version: int = STATE_VERSION,
        source: str = "state",
    ) -> ResourceState:
        """The record stored at `address` by a document of `version`."""
        applied: Any = dict(data.get("applied") or {})
        if version >= 2:
            applied = decode(applied, blobs, source)
        if version < 3:
            applied = from_v2(applied)
        kind = data.get("kind")
        if kind is None:
            found = address_kind(address)
            if found is None:
                raise ValueError(f"{address!r} is not an address")
            kind = found.name
        return cls(
            kind=str(kind),
            id=str(data["id"]),
            applied=applied,
            config_digest=short_digest(str(data.get("configDigest", ""))),
            applied_at=str(data.get("appliedAt", "")),
            protect=bool(data.get("protect", False)),
            nested_ids={k: dict(v) for k, v in (data.get("nestedIds") or {}).items()},
        )


@dataclass(frozen=True)
class State:
    """The whole state of one environment. Immutable: changes return a new value."""

    environment: str
    lineage: str
    serial: int = 0
    resources: Mapping[str, ResourceState] = field(default_factory=dict)
    # The workspace the API said these resources live in (`workspaceId`), once it said so.
    workspace: str | None = None
    # `sigmaform test` results by agent address (test_record.py): plain JSON, gated on
    # by `promote`.
    tests: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def new(cls, environment: str) -> State:
        return cls(environment=environment, lineage=str(uuid.uuid4()))

    @property
    def fingerprint_key(self) -> bytes:
        """Key for secret fingerprints: from the lineage and SIGMAFORM_FINGERPRINT_KEY."""
        return fingerprint_key(self.lineage)

    def with_resource(self, address: str, resource: ResourceState) -> State:
        return replace(self, resources={**self.resources, address: resource})

    def without(self, address: str) -> State:
        return replace(self, resources={k: v for k, v in self.resources.items() if k != address})

    def id_to_address(self) -> dict[tuple[str, str], str]:
        return {(r.kind, r.id): addr for addr, r in self.resources.items()}

    def to_dict(self, blobs: Blobs | None = None) -> dict[str, Any]:
        """The stored document; the long texts its markers name are collected into `blobs`."""
        sink: Blobs = {} if blobs is None else blobs
        return {
            **self.header(),
            "resources": {k: v.to_dict(sink) for k, v in sorted(self.resources.items())},
        }

    def header(self) -> dict[str, Any]:
        """Everything in the document but the resources (a shared backend's header row)."""
        return {
            "version": STATE_VERSION,
            "lineage": self.lineage,
            "serial": self.serial,
            "environment": self.environment,
            **({"workspace": self.workspace} if self.workspace else {}),
            **(
                {"tests": {k: dict(v) for k, v in sorted(self.tests.items())}} if self.tests else {}
            ),
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], source: str, blobs: BlobReader | None = None
    ) -> State:
        """A checked state from a document of any readable version; its long texts are
        read from `blobs` when first needed."""
        version = data.get("version") if isinstance(data, Mapping) else None
        if version not in READABLE_VERSIONS or isinstance(version, bool):
            raise ConfigError(
                Problem(source, message=f"not a sigmaform state file (version {STATE_VERSION})")
            )
        problems = state_problems(data, source)
        if problems:
            raise ConfigError(problems)
        try:
            return cls(
                environment=str(data["environment"]),
                lineage=str(data["lineage"]),
                serial=int(data["serial"]),
                workspace=str(data["workspace"]) if data.get("workspace") else None,
                tests={str(k): _tests(v) for k, v in (data.get("tests") or {}).items()},
                resources={
                    str(k): ResourceState.from_dict(
                        v, blobs, address=str(k), version=version, source=source
                    )
                    for k, v in data["resources"].items()
                },
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ConfigError(
                Problem(source, message=f"state file is damaged: {error!r}")
            ) from None


def _tests(record: Mapping[str, Any]) -> dict[str, Any]:
    """A test record with its agent's digest as this version writes config digests."""
    out = dict(record)
    if isinstance(out.get("agentDigest"), str):
        out["agentDigest"] = short_digest(out["agentDigest"])
    return out


def render_document(document: Mapping[str, Any]) -> str:
    """A state document as stored: one line per top-level field and one per resource.

    Valid JSON that stays small (no indentation repeated in every resource) and diffs well
    under version control: a change to one resource is a change to its line.
    """
    return "".join(document_parts(document))


def document_parts(document: Mapping[str, Any]) -> Iterator[str]:
    """`render_document` in pieces, one per field and per resource line: the local backend
    writes them as they come, so a 10,000-resource document is never held whole (its
    lines, their join and the file's encoding of it cost ~60 MB at once)."""

    def compact(value: Any) -> str:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    yield "{\n"
    for index, key in enumerate(sorted(document)):
        if index:
            yield ",\n"
        if key != "resources":
            yield f"{compact(key)}:{compact(document[key])}"
        elif not document[key]:
            yield '"resources":{}'
        else:
            yield '"resources":{\n'
            for line, (address, resource) in enumerate(sorted(document[key].items())):
                if line:
                    yield ",\n"
                yield f"{compact(address)}:{compact(resource)}"
            yield "\n}"
    yield "\n}\n"


@dataclass(frozen=True)
class LockInfo:
    """Who holds the lock: shown to the one who is refused."""

    operation: str
    who: str = field(default_factory=lambda: _user())
    host: str = field(default_factory=lambda: _host())
    pid: int = field(default_factory=os.getpid)
    created: str = field(default_factory=utc_now)

    def describe(self) -> str:
        return f"{self.who}@{self.host} (pid {self.pid}, {self.operation}, since {self.created})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "who": self.who,
            "host": self.host,
            "pid": self.pid,
            "created": self.created,
        }


def _user() -> str:
    import getpass  # here: only a command that takes the lock needs it

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _host() -> str:
    import socket  # here: only a command that takes or shows the lock needs it

    return socket.gethostname()


class StateBackend(Protocol):
    """Where a state is kept. Small on purpose, so a shared backend is one class."""

    def describe(self) -> str: ...

    def read(self) -> State | None: ...

    def write(self, state: State) -> State:
        """Persist `state` with the next serial; return what was written."""
        ...

    def lock(self, info: LockInfo, timeout: float = 0.0) -> contextlib.AbstractContextManager[None]:
        """Hold the apply lock; wait up to `timeout` seconds for someone else to release it,
        then raise LockHeldError."""
        ...

    def lock_holder(self) -> LockInfo | None: ...

    def is_locked(self) -> bool:
        """True while a live process holds the lock (a dead holder's lock is gone)."""
        ...

    def force_unlock(self) -> LockInfo | None: ...


@runtime_checkable
class AppendingBackend(Protocol):
    """A backend that can record a few resources' changes at the cost of those changes."""

    def append(self, state: State, changes: Sequence[state_journal.Change]) -> State:
        """Persist `changes` (already applied to `state`) as serial + 1; return that state."""
        ...

    def compact(self, state: State) -> State:
        """Fold the appended changes into the stored document, keeping `state.serial`."""
        ...


def holder_alive(holder: LockInfo) -> bool:
    """False only for a process of this host that is known to be gone."""
    if holder.host != _host():
        return True
    if sys.platform == "win32":
        # os.kill(pid, 0) sends CTRL_C_EVENT on Windows; the file lock itself says who is alive.
        return True
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: it exists
        return True
    return True


def describe_wait(seconds: float) -> str:
    """`5s`, `2m`, `1m30s`: how long a refused process waited, as a user would write it."""
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:g}s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m{rest}s" if rest else f"{minutes}m"


class LocalBackend:
    """State in a JSON file; the lock is `<file>.lock`, its holder's details `<file>.lock.info`."""

    def __init__(self, path: Path, display: str | None = None) -> None:
        self.path = path
        self.display = display or str(path)
        self.lock_path = path.with_name(path.name + ".lock")
        self.info_path = path.with_name(path.name + ".lock.info")
        self.blobs = LocalBlobs(path, self.display)

    def describe(self) -> str:
        return self.display

    def read(self) -> State | None:
        try:
            data = read_json_file(self.path, self.display)
        except FileNotFoundError:
            document = None
        else:
            document = State.from_dict(data, self.display, self.blobs)
        # What a killed apply appended but did not compact yet (see state_journal).
        return state_journal.replay(document, self.path, self.display, self.blobs)

    def write(self, state: State) -> State:
        return self.compact(replace(state, serial=state.serial + 1))

    def compact(self, state: State) -> State:
        """Write `state` as the document at its own serial (nothing new: the journal's
        changes, already counted) and drop the journal."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        blobs: Blobs = {}
        document = state.to_dict(blobs)
        self.blobs.write(blobs)  # first: the document must never name a missing blob
        write_atomic(self.path, document_parts(document), backup=True, mode=0o600)
        state_journal.discard(self.path)  # the document now holds everything it had
        self.blobs.compacted()
        # The backup is the previous version, kept restorable: its blobs stay too.
        self.blobs.prune(blobs, [self.path.with_name(self.path.name + ".backup")])
        return state

    def append(self, state: State, changes: Sequence[state_journal.Change]) -> State:
        """Record `changes` (already in `state`) durably without rewriting the document;
        the next `write` compacts them into it."""
        written = replace(state, serial=state.serial + 1)
        blobs: Blobs = {}
        records = [(a, None if r is None else r.to_dict(blobs)) for a, r in changes]
        # New texts travel in the journal line (durable with it); compaction writes them
        # as blob files, all together, before the document that names them.
        texts = self.blobs.unstored(blobs)
        state_journal.append(self.path, written, records, texts)
        self.blobs.journalled(texts)
        return written

    @contextlib.contextmanager
    def lock(self, info: LockInfo, timeout: float = 0.0) -> Iterator[None]:
        # Imported here: only commands that write state pay for it.
        from filelock import FileLock, Timeout

        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        file_lock = FileLock(self.lock_path)
        try:
            file_lock.acquire(timeout=max(timeout, 0.0), poll_interval=0.05)
        except Timeout:
            holder = self._current_holder()
            who = holder.describe() if holder else "another process"
            waited = f" (waited {describe_wait(timeout)})" if timeout > 0 else ""
            raise LockHeldError(
                f"state {self.display} is locked by {who}{waited}; wait for it to finish, "
                "retry with --lock-timeout (or, if it is gone, run "
                f"`{invocation.command('state', 'unlock')}`)"
            ) from None
        try:
            write_atomic(self.info_path, json.dumps(info.to_dict()) + "\n")
            self._compact_leftover()
            yield
        finally:
            try:
                # The details go first, so nobody reads them as a live holder's after release.
                self.info_path.unlink(missing_ok=True)
            finally:
                file_lock.release()

    def _compact_leftover(self) -> None:
        """Fold a journal a killed apply left behind into the document, under the lock.

        Reads replay it anyway; but a run with nothing to write would otherwise leave the
        document (the file teams inspect, copy and commit) behind the truth indefinitely.
        """
        if not state_journal.journal_path(self.path).exists():
            return
        state = self.read()
        if state is not None:
            self.compact(state)

    def _current_holder(self) -> LockInfo | None:
        """Who holds the lock. A holder writes its details just after taking the lock, so
        a process refused in that moment waits briefly for them instead of naming nobody
        (or the details a killed holder left behind)."""
        deadline = time.monotonic() + 1.0
        while True:
            holder = self.lock_holder()
            if (holder is not None and holder_alive(holder)) or time.monotonic() >= deadline:
                return holder
            time.sleep(0.01)

    def lock_holder(self) -> LockInfo | None:
        try:
            data = json.loads(self.info_path.read_text(encoding="utf-8") or "null")
        except (FileNotFoundError, PermissionError, json.JSONDecodeError):
            return None
        if not isinstance(data, dict):
            return None
        try:
            return LockInfo(**data)
        except TypeError:
            return None

    def is_locked(self) -> bool:
        """True while a live process holds the lock (a dead holder's lock is gone)."""
        from filelock import FileLock, Timeout

        if not self.lock_path.exists():
            return False
        probe = FileLock(self.lock_path)
        try:
            probe.acquire(timeout=0)
        except Timeout:
            return True
        probe.release()
        return False

    def force_unlock(self) -> LockInfo | None:
        """Clear the details a holder that is gone left behind, holding the lock meanwhile
        so a new holder's details are never the ones cleared. The lock file stays: a live
        holder keeps its lock (refused here), a dead one's is already free."""
        from filelock import FileLock, Timeout

        if not self.lock_path.exists() and not self.info_path.exists():
            return None
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        probe = FileLock(self.lock_path)
        try:
            probe.acquire(timeout=0)
        except Timeout:
            holder = self._current_holder()
            who = holder.describe() if holder else "a running process"
            raise RefusedError(f"the lock is held by {who}, which is still running") from None
        try:
            holder = self.lock_holder()
            self.info_path.unlink(missing_ok=True)
        finally:
            probe.release()
        return holder


def local_backend(project: Project) -> LocalBackend:
    """The state file of the project's selected environment (`state.path`)."""
    path = project.state_path()
    try:
        display = str(path.relative_to(project.root))
    except ValueError:
        display = str(path)
    return LocalBackend(path, display)


def stale_write_error(
    where: str, expected: tuple[str, int] | None, found: tuple[str, int] | None
) -> StalePlanError:
    """A shared backend's compare-and-set failed: someone wrote `where` since it was read.

    `expected` and `found` are (lineage, serial) pairs, None where there was no state."""

    def show(version: tuple[str, int] | None) -> str:
        return "no state" if version is None else f"serial {version[1]}"

    lineage = " with a different lineage" if expected and found and expected[0] != found[0] else ""
    return StalePlanError(
        f"state {where} was written by someone else since it was read "
        f"(expected {show(expected)}, found {show(found)}{lineage}): "
        f"run `{invocation.command('plan')}` again"
    )
