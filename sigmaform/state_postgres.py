"""State in PostgreSQL for teams: a header row and a row per resource, an advisory apply lock.

The only module (with its layout, `state_postgres_rows`) that imports psycopg;
`operations.backend_for` imports it only when a project says `state: {backend: postgres}`.
Writes are compare-and-set on the header's serial, so two writers can never silently lose
each other's update, and send only the resources that changed. The lock is a session-level
advisory lock held on a dedicated connection for the whole `lock()` block: when the
holder dies (even kill -9) its connection closes and the server drops the lock. A row in
`locks` only says who holds it, for the one who is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from sigmaform.errors import (
    ConfigError,
    LockHeldError,
    LockLostError,
    Problem,
    SigmaformError,
    StalePlanError,
)
from sigmaform.resource import Project
from sigmaform.sensitive import MIN_SCRUBBED, remember
from sigmaform.state import (
    STATE_VERSION,
    Blobs,
    LockInfo,
    State,
    describe_wait,
    stale_write_error,
)
from sigmaform.state_blobs import checked, missing
from sigmaform.state_journal import Change
from sigmaform.state_postgres_rows import (
    ROW_TABLES,
    Layout,
    Record,
    Stored,
    encoded,
    record_digest,
    referenced,
)

HISTORY_LIMIT = 20
CONNECT_TIMEOUT = 10  # seconds; CI should fail fast on a wrong host, not hang
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_ENV_REF = re.compile(r"\$\{env\.([A-Za-z_][A-Za-z0-9_]*)\}")
# The password of a URL runs to the last `@` of it: an unencoded `@` in a password
# (which libpq would split at) must not leave the rest of the password in view.
_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<password>\S*)(?=@)", re.IGNORECASE
)
# `?password=...` / `&password=...` in a URL's query.
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<password>[^&#\s]*)", re.IGNORECASE)
# `password=...` in a keyword/value DSN, quoted (with \' escapes) or not.
_DSN_PASSWORD = re.compile(
    r"(?P<head>(?<![?&\w])password\s*=\s*)(?P<password>'(?:[^'\\]|\\.)*'?|[^\s']\S*)",
    re.IGNORECASE,
)

_TABLES = (
    """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.states (
    project     text        NOT NULL,
    environment text        NOT NULL,
    lineage     text        NOT NULL,
    serial      bigint      NOT NULL,
    document    jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, environment)
);
CREATE TABLE IF NOT EXISTS {schema}.state_history (
    id          bigserial   PRIMARY KEY,
    project     text        NOT NULL,
    environment text        NOT NULL,
    lineage     text        NOT NULL,
    serial      bigint      NOT NULL,
    document    jsonb       NOT NULL,
    replaced_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS state_history_key ON {schema}.state_history (project, environment, id);
CREATE TABLE IF NOT EXISTS {schema}.locks (
    project     text        NOT NULL,
    environment text        NOT NULL,
    who         text        NOT NULL,
    host        text        NOT NULL,
    pid         integer     NOT NULL,
    operation   text        NOT NULL,
    created     text        NOT NULL,
    backend_pid integer     NOT NULL,
    PRIMARY KEY (project, environment)
);
"""
    + ROW_TABLES
)
_TABLE_NAMES = ("states", "state_history", "locks", "state_resources", "state_blobs")


class StateDatabaseError(SigmaformError):
    """The state database could not be reached or refused a statement."""


def scrub_url(text: str) -> str:
    """`text` with the password of every database URL or DSN in it replaced by `***`."""
    for pattern in (_PASSWORD, _QUERY_PASSWORD, _DSN_PASSWORD):
        text = pattern.sub(r"\g<head>***", text)
    return text


def _passwords(url: str) -> set[str]:
    """Every spelling of the password in `url` that a message might quote."""
    whole: set[str] = set()
    pieces: set[str] = set()
    for pattern in (_PASSWORD, _QUERY_PASSWORD, _DSN_PASSWORD):
        for match in pattern.finditer(url):
            value = match["password"]
            whole |= {value, unquote(value), value.strip("'")}
            pieces |= set(value.split("@"))  # libpq splits at the first `@`
    try:
        parsed = conninfo_to_dict(url).get("password")
    except psycopg.Error:
        parsed = None
    if isinstance(parsed, str):
        pieces.add(parsed)
    # Short pieces of a password are not masked on their own: they would garble words.
    found = whole | {p for p in pieces if len(p) >= MIN_SCRUBBED}
    return {p for p in found if p and p != "***"}


def resolve_url(url: str, environ: Mapping[str, str]) -> str:
    """`${env.NAME}` in the url replaced from the process environment."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise ConfigError(
                Problem(
                    "sigmaform.yaml",
                    path="state.url",
                    message=f"environment variable {name} is not set (it holds the database URL)",
                )
            )
        return environ[name]

    return _ENV_REF.sub(value, url)


def lock_key(schema: str, project: str, environment: str) -> int:
    """A signed 64-bit advisory-lock key, stable across processes and hosts."""
    digest = hashlib.sha256(f"sigmaform\0{schema}\0{project}\0{environment}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresBackend:
    """State of one (project, environment) in `<schema>.states`, history in `state_history`."""

    def __init__(
        self,
        url: str,
        project: str,
        environment: str,
        *,
        schema: str = "sigmaform",
        history: int = HISTORY_LIMIT,
    ) -> None:
        if not SCHEMA_NAME.fullmatch(schema):
            raise ConfigError(
                Problem(
                    "sigmaform.yaml",
                    path="state.schema",
                    message=f"`{schema}` is not a schema name (lowercase letters, digits, `_`)",
                )
            )
        self._url = url
        self._passwords = _passwords(url)
        for password in self._passwords:
            remember(password)  # masked in any message, whoever builds it
        self.project = project
        self.environment = environment
        self.schema = schema
        self.history = history
        self._key = lock_key(schema, project, environment)
        self._ready = False
        self._session: psycopg.Connection[Any] | None = None  # the lock's, while held
        self._mutex = threading.RLock()
        self._layout = Layout(schema, project, environment)
        self._stored: Stored | None = None  # the rows as last read or written
        self._known_blobs: set[str] = set()  # digests known to be in state_blobs

    def __repr__(self) -> str:
        return f"PostgresBackend({self.describe()!r})"

    @property
    def safe_url(self) -> str:
        return scrub_url(self._url)

    def describe(self) -> str:
        return f"postgres:{self.schema}/{self.project}/{self.environment}"

    # -- connections ------------------------------------------------------------------

    def _connect(self, purpose: str) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(
                self._url,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT,
                application_name=f"sigmaform {purpose}"[:63],
            )
        except psycopg.Error as error:
            raise self._failure("cannot connect to the state database", error) from None
        self._ensure_tables(conn)
        return conn

    def _failure(self, what: str, error: BaseException) -> StateDatabaseError:
        reason = str(error).strip().replace(self._url, self.safe_url)
        # libpq may quote the password alone (or decoded) in a message about the URL.
        for password in sorted(self._passwords, key=len, reverse=True):
            reason = reason.replace(password, "***")
        return StateDatabaseError(f"{what} {self.safe_url}: {scrub_url(reason)}")

    @contextlib.contextmanager
    def _connection(self, purpose: str) -> Iterator[psycopg.Connection[Any]]:
        """The lock's connection while it is held (one session per apply), else a short one."""
        with self._mutex:
            if self._session is not None:
                try:
                    yield self._session
                except psycopg.Error as error:
                    if self._session.broken or self._session.closed:
                        raise self._lost(error) from None
                    raise self._failure("state database error at", error) from None
                return
        conn = self._connect(purpose)
        try:
            yield conn
        except psycopg.Error as error:
            raise self._failure("state database error at", error) from None
        finally:
            conn.close()

    def _ensure_tables(self, conn: psycopg.Connection[Any]) -> None:
        if self._ready:
            return
        try:
            # A schema made by an earlier release lacks the row layout's tables: add them.
            exists = conn.execute(
                " AND ".join(["to_regclass(%s) IS NOT NULL"] * len(_TABLE_NAMES)).join(
                    ["SELECT ", ""]
                ),
                [f"{self.schema}.{name}" for name in _TABLE_NAMES],
            ).fetchone()
            if not (exists and exists[0]):
                with conn.transaction():
                    # Two first runs at once would race on CREATE ... IF NOT EXISTS.
                    conn.execute(
                        "SELECT pg_advisory_xact_lock(%s)", [lock_key(self.schema, "", "")]
                    )
                    ddl = sql.SQL(_TABLES).format(schema=sql.Identifier(self.schema))
                    conn.execute(ddl)
        except psycopg.Error as error:
            conn.close()
            raise self._failure(
                f"cannot create the state tables in schema `{self.schema}` at", error
            ) from None
        self._ready = True

    def _table(self, name: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(name))

    # -- state ------------------------------------------------------------------------

    @property
    def sent_bytes(self) -> int:
        """Bytes of statements and parameters this backend's writes sent (benchmarks)."""
        return self._layout.sent

    def read(self) -> State | None:
        with self._connection("read") as conn:
            found = self._layout.read(conn)
        if found is None:
            return None
        document, stored = found
        state = State.from_dict(document, self.describe(), self)
        if stored is not None:
            known = set().union(*map(referenced, document["resources"].values()))
        with self._mutex:
            self._stored = stored
            if stored is not None:
                self._known_blobs |= known
        return state

    def read_blob(self, digest: str) -> str:
        where = f"{self.describe()} (table {self.schema}.state_blobs)"
        with self._connection("read") as conn:
            text = self._layout.read_blob(conn, digest)
        if text is None:
            raise missing(digest, where)
        return checked(digest, text.encode(), where)

    def write(self, state: State) -> State:
        """Persist `state` with the next serial, if the stored one is still the one it came from."""
        expected = None if state.serial == 0 else (state.lineage, state.serial)
        return self.store(replace(state, serial=state.serial + 1), expected)

    def store(self, state: State, expected: tuple[str, int] | None) -> State:
        """Write `state` as it is, replacing the stored (lineage, serial) `expected` (None: none).

        Only rows that differ from the version this process read or wrote are sent; a
        version it does not know is replaced whole.
        """
        blobs: Blobs = {}
        records = encoded(dict(state.resources), blobs)  # a copy, as in _commit
        with self._mutex:
            stored = self._stored
        if stored is not None and stored.version == expected:
            changed: dict[str, Record | None] = {
                a: r for a, r in records.items() if stored.rows.get(a) != record_digest(r)
            }
            changed.update((a, None) for a in stored.rows if a not in records)
            self._commit(state, expected, changed, blobs, whole=False)
        else:
            self._commit(state, expected, dict(records), blobs, whole=True)
        return state

    def append(self, state: State, changes: Sequence[Change]) -> State:
        """Persist `changes` (already applied to `state`) as serial + 1: their rows only."""
        written = replace(state, serial=state.serial + 1)
        blobs: Blobs = {}
        records = {a: None if r is None else r.to_dict(blobs) for a, r in changes}
        expected = None if state.serial == 0 else (state.lineage, state.serial)
        if expected is None:  # the environment's first write carries every resource
            return self.store(written, None)
        self._commit(written, expected, records, blobs, whole=False, everything=state)
        return written

    def compact(self, state: State) -> State:
        """Nothing to fold: every append already wrote its rows."""
        return state

    def _commit(
        self,
        state: State,
        expected: tuple[str, int] | None,
        records: dict[str, Record | None],
        blobs: Blobs,
        *,
        whole: bool,
        everything: State | None = None,
    ) -> None:
        """One transaction: compare-and-set on the header, blobs, rows, history, header.

        A header still in the one-row layout is replaced by rows of every resource
        (`everything` holds them when `records` is only the change)."""
        states = self._layout.table("states")
        with self._connection("write") as conn, conn.transaction():
            current = conn.execute(
                sql.SQL(
                    "SELECT lineage, serial, document ? 'resources', document -> 'version' FROM {}"
                    " WHERE project = %s AND environment = %s FOR UPDATE"
                ).format(states),
                self._layout.key,
            ).fetchone()
            found = None if current is None else (str(current[0]), int(current[1]))
            if found != expected:
                raise self._conflict(expected, found)
            if current is not None and not whole and (current[2] or current[3] != STATE_VERSION):
                # First write since the one-row layout, or since an older version: every
                # resource becomes a row of this version (no row is left in an older form).
                # A copy (atomic under the GIL): an apply's recorder changes its mapping
                # from other threads while this encodes.
                records = dict(encoded(dict((everything or state).resources), blobs))
                whole = True
            if current is None:
                self._layout.insert_header(conn, state)
            with self._mutex:
                known = set(self._known_blobs)
            self._layout.write(
                conn,
                state,
                records,
                blobs,
                whole=whole,
                known_blobs=known,
                history=current is not None,
            )
            if current is not None:
                self._layout.prune_history(conn, self.history)
        with self._mutex:
            self._known_blobs |= known
            version = (state.lineage, state.serial)
            if whole:
                rows = {a: record_digest(r) for a, r in records.items() if r is not None}
                self._stored = Stored(version, rows)
            elif self._stored is not None and self._stored.version == expected:
                for address, record in records.items():
                    if record is None:
                        self._stored.rows.pop(address, None)
                    else:
                        self._stored.rows[address] = record_digest(record)
                self._stored.version = version
            else:
                self._stored = None

    def _conflict(
        self, expected: tuple[str, int] | None, found: tuple[str, int] | None
    ) -> StalePlanError:
        return stale_write_error(self.describe(), expected, found)

    def history_serials(self) -> list[int]:
        """Serials kept in history, newest first (for `state` tooling and tests)."""
        with self._connection("read") as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT serial FROM {} WHERE project = %s AND environment = %s ORDER BY id DESC"
                ).format(self._table("state_history")),
                [self.project, self.environment],
            ).fetchall()
        return [int(r[0]) for r in rows]

    # -- lock -------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, info: LockInfo, timeout: float = 0.0) -> Iterator[None]:
        conn = self._connect(f"{info.operation} {info.who}@{info.host} pid {info.pid}")
        try:
            if not self._try_lock(conn, timeout):
                holder = self._holder(conn)
                waited = f" (waited {describe_wait(timeout)})" if timeout > 0 else ""
                raise LockHeldError(
                    f"state {self.describe()} is locked by {holder}{waited}; wait for it to "
                    "finish or retry with --lock-timeout (a holder that died releases the "
                    "lock with its connection)"
                )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (project, environment, who, host, pid, operation, created,"
                    " backend_pid) VALUES (%s, %s, %s, %s, %s, %s, %s, pg_backend_pid())"
                    " ON CONFLICT (project, environment) DO UPDATE SET who = EXCLUDED.who,"
                    " host = EXCLUDED.host, pid = EXCLUDED.pid, operation = EXCLUDED.operation,"
                    " created = EXCLUDED.created, backend_pid = EXCLUDED.backend_pid"
                ).format(self._table("locks")),
                [
                    self.project,
                    self.environment,
                    info.who,
                    info.host,
                    info.pid,
                    info.operation,
                    info.created,
                ],
            )
        except psycopg.Error as error:
            conn.close()
            raise self._failure("cannot take the state lock at", error) from None
        except BaseException:
            conn.close()
            raise
        with self._mutex:
            self._session = conn
        try:
            yield
        finally:
            with self._mutex:
                self._session = None
            # Closing the session releases the advisory lock; the row is only information.
            with contextlib.suppress(psycopg.Error):
                conn.execute(
                    sql.SQL(
                        "DELETE FROM {} WHERE project = %s AND environment = %s"
                        " AND backend_pid = pg_backend_pid()"
                    ).format(self._table("locks")),
                    [self.project, self.environment],
                )
                conn.execute("SELECT pg_advisory_unlock(%s)", [self._key])
            conn.close()

    def ensure_locked(self) -> None:
        """Raise LockLostError unless this process still holds the apply lock.

        The advisory lock lives as long as the session that took it: an administrator's
        pg_terminate_backend, a restart or a failover ends it silently, and another apply
        may take it at once. Apply asks before every write it sends (one round trip on
        the lock's own session), so a lost lock stops the writes.
        """
        with self._mutex:
            conn = self._session
            if conn is None:
                raise self._lost(None)
            try:
                row = conn.execute(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
                    " AND pid = pg_backend_pid() AND granted AND objsubid = 1"
                    " AND classid = %s::bigint::oid AND objid = %s::bigint::oid)",
                    [(self._key >> 32) & 0xFFFFFFFF, self._key & 0xFFFFFFFF],
                ).fetchone()
            except psycopg.Error as error:
                raise self._lost(error) from None
        if not (row and row[0]):
            raise self._lost(None)

    def _lost(self, error: BaseException | None) -> LockLostError:
        reason = "the database session that held it ended"
        if error is not None:
            detail = self._failure("", error).args[0].split(": ", 1)[-1]
            reason += f" ({detail})" if detail else ""
        return LockLostError(
            f"lost the state lock on {self.describe()}: {reason}. The apply stopped at once "
            "and sends nothing more; another apply may hold the lock now. Run `sigmaform "
            "plan` when no apply is running to see what is left"
        )

    def _try_lock(self, conn: psycopg.Connection[Any], timeout: float) -> bool:
        """Take the advisory lock, polling for up to `timeout` seconds. Polling, not the
        blocking pg_advisory_lock: a statement waiting on the server could outlive us."""
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", [self._key]).fetchone()
            if row and row[0]:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.2, max(deadline - time.monotonic(), 0.0)))

    def _holder(self, conn: psycopg.Connection[Any]) -> str:
        """Who holds the advisory lock: the info row if it is theirs, else their session name."""
        pid_row = conn.execute(
            "SELECT l.pid, a.application_name FROM pg_locks l"
            " LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid LIMIT 1",
            # A bigint key shows in pg_locks as its high and low 32 bits.
            [(self._key >> 32) & 0xFFFFFFFF, self._key & 0xFFFFFFFF],
        ).fetchone()
        info = self._info_row(conn)
        if info is not None and (pid_row is None or info[1] == pid_row[0]):
            return info[0].describe()
        if pid_row is not None and pid_row[1]:
            return f"the session `{pid_row[1]}` (server pid {pid_row[0]})"
        return "another session"

    def _info_row(self, conn: psycopg.Connection[Any]) -> tuple[LockInfo, int] | None:
        row = conn.execute(
            sql.SQL(
                "SELECT who, host, pid, operation, created, backend_pid FROM {}"
                " WHERE project = %s AND environment = %s"
            ).format(self._table("locks")),
            [self.project, self.environment],
        ).fetchone()
        if row is None:
            return None
        who, host, pid, operation, created, backend_pid = row
        return LockInfo(operation=operation, who=who, host=host, pid=pid, created=created), int(
            backend_pid
        )

    def lock_holder(self) -> LockInfo | None:
        with self._connection("read") as conn:
            found = self._info_row(conn)
        return None if found is None else found[0]

    def is_locked(self) -> bool:
        """True while a live session holds the advisory lock."""
        with self._connection("read") as conn:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", [self._key]).fetchone()
            got = bool(row and row[0])
            if got:
                conn.execute("SELECT pg_advisory_unlock(%s)", [self._key])
        return not got

    def force_unlock(self) -> LockInfo | None:
        """Delete the lock information row. A live holder's advisory lock cannot be taken
        from it: only its connection ending (or an administrator's pg_terminate_backend) does."""
        with self._connection("unlock") as conn:
            row = conn.execute(
                sql.SQL(
                    "DELETE FROM {} WHERE project = %s AND environment = %s"
                    " RETURNING who, host, pid, operation, created"
                ).format(self._table("locks")),
                [self.project, self.environment],
            ).fetchone()
        if row is None:
            return None
        who, host, pid, operation, created = row
        return LockInfo(operation=operation, who=who, host=host, pid=pid, created=created)


def backend_for_project(project: Project) -> PostgresBackend:
    """The postgres backend a project's `state:` block describes, for its environment."""
    settings = project.state
    if not settings.url:
        raise ConfigError(
            Problem(
                "sigmaform.yaml",
                path="state.url",
                message='the postgres backend needs `url`, e.g. "${env.SIGMAFORM_STATE_URL}"',
            )
        )
    return PostgresBackend(
        resolve_url(settings.url, os.environ),
        settings.project or project.root.name,
        project.environment.name,
        schema=settings.schema,
    )
