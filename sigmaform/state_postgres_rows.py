"""The postgres state layout: a header row per environment, a row per resource, blobs by digest.

`states.document` holds the header: the state document without `resources` (lineage,
serial, environment and every other top-level field, carried as they are). Each resource
is a row of `state_resources`, keyed by address; long text is in `state_blobs`, keyed by
digest (shared by every project in the schema: the same text is stored once). A write
sends only the rows that changed, so recording one resource costs that resource, not the
state: in one transaction, compare-and-set on the header's serial, the new blobs, the
changed rows, a history row and the header.

Before this layout the whole document was the `states` row (it has `resources`); such a
row is read as it is and replaced by the row layout on the next write, in that write's
transaction.

History: each write adds a `state_history` row holding the previous header and, under
`replaced`, the previous record (null: none) of each address the write changed; a state
written in the old layout keeps its whole previous document there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from sigmaform.state import Blobs, State
from sigmaform.state_blobs import JSON_MARKER, MARKER, TextRef, text_of

ROW_TABLES = """
CREATE TABLE IF NOT EXISTS {schema}.state_resources (
    project     text        NOT NULL,
    environment text        NOT NULL,
    address     text        NOT NULL,
    serial      bigint      NOT NULL,
    record      jsonb       NOT NULL,
    PRIMARY KEY (project, environment, address)
);
CREATE TABLE IF NOT EXISTS {schema}.state_blobs (
    digest      text        PRIMARY KEY,
    content     text        NOT NULL
);
"""

Record = dict[str, Any]


def record_digest(record: Mapping[str, Any]) -> str:
    """What a stored record is compared by (so the backend remembers 10,000 digests, not
    10,000 records)."""
    text = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Stored:
    """What this process knows is stored: the version and a digest per resource row."""

    version: tuple[str, int]
    rows: dict[str, str]  # address -> record_digest


@dataclass
class Layout:
    """The statements of one schema, project and environment, counting the bytes they send."""

    schema: str
    project: str
    environment: str
    sent: int = 0  # bytes of statements and parameters sent by writes (for the benchmark)

    def table(self, name: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(name))

    @property
    def key(self) -> list[str]:
        return [self.project, self.environment]

    def _write(self, conn: psycopg.Connection[Any], query: sql.Composed, params: list[Any]) -> Any:
        self.sent += len(query.as_string(conn).encode()) + sum(_size(p) for p in params)
        return conn.execute(query, params)

    # -- reading ------------------------------------------------------------------------

    def read(self, conn: psycopg.Connection[Any]) -> tuple[dict[str, Any], Stored | None] | None:
        """The stored document (header and records) and what to compare the next write with;
        None when there is no state."""
        with conn.transaction():
            # One snapshot for the header and the rows: a writer in between must not show
            # its rows under the previous header.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            row = conn.execute(
                sql.SQL("SELECT document FROM {} WHERE project = %s AND environment = %s").format(
                    self.table("states")
                ),
                self.key,
            ).fetchone()
            if row is None:
                return None
            document = dict(row[0])
            if "resources" in document:
                return document, None  # the one-row layout, rewritten by the next write
            records = conn.execute(
                sql.SQL(
                    "SELECT address, record FROM {} WHERE project = %s AND environment = %s"
                ).format(self.table("state_resources")),
                self.key,
            ).fetchall()
        resources = {str(a): r for a, r in records}
        version = (str(document.get("lineage")), _serial(document.get("serial")))
        stored = Stored(version, {a: record_digest(r) for a, r in resources.items()})
        return {**document, "resources": resources}, stored

    def read_blob(self, conn: psycopg.Connection[Any], digest: str) -> str | None:
        row = conn.execute(
            sql.SQL("SELECT content FROM {} WHERE digest = %s").format(self.table("state_blobs")),
            [digest],
        ).fetchone()
        return None if row is None else str(row[0])

    # -- writing (inside the caller's transaction, after its compare-and-set) -----------

    def write(
        self,
        conn: psycopg.Connection[Any],
        state: State,
        records: Mapping[str, Record | None],
        blobs: Blobs,
        *,
        whole: bool,
        known_blobs: set[str],
        history: bool,
    ) -> None:
        """Store `state`'s header and the `records` that changed (None: removed). `whole`:
        `records` is every resource, and rows of other addresses are removed. The blobs
        go in the same transaction, so no committed row ever names a missing one."""
        self._blobs(conn, blobs, known_blobs)
        if history:
            self._history(conn, state, list(records), whole)
        rows = self.table("state_resources")
        upserts = [(a, r) for a, r in records.items() if r is not None]
        if upserts:
            self._write(
                conn,
                sql.SQL(
                    "INSERT INTO {} (project, environment, address, serial, record)"
                    " SELECT %s, %s, a, %s, r::jsonb FROM unnest(%s::text[], %s::text[]) AS t(a, r)"
                    " ON CONFLICT (project, environment, address) DO UPDATE"
                    " SET serial = EXCLUDED.serial, record = EXCLUDED.record"
                ).format(rows),
                [
                    *self.key,
                    state.serial,
                    [a for a, _ in upserts],
                    [_json(r) for _, r in upserts],
                ],
            )
        if whole:
            self._write(
                conn,
                sql.SQL(
                    "DELETE FROM {} WHERE project = %s AND environment = %s"
                    " AND NOT (address = ANY(%s::text[]))"
                ).format(rows),
                [*self.key, [a for a, _ in upserts]],
            )
        elif removed := [a for a, r in records.items() if r is None]:
            self._write(
                conn,
                sql.SQL(
                    "DELETE FROM {} WHERE project = %s AND environment = %s"
                    " AND address = ANY(%s::text[])"
                ).format(rows),
                [*self.key, removed],
            )
        self._write(
            conn,
            sql.SQL(
                "UPDATE {} SET lineage = %s, serial = %s, document = %s::jsonb,"
                " updated_at = now() WHERE project = %s AND environment = %s"
            ).format(self.table("states")),
            [state.lineage, state.serial, _json(state.header()), *self.key],
        )

    def insert_header(self, conn: psycopg.Connection[Any], state: State) -> None:
        """The first write of an environment: its header row (resources follow in `write`)."""
        self._write(
            conn,
            sql.SQL(
                "INSERT INTO {} (project, environment, lineage, serial, document)"
                " VALUES (%s, %s, %s, %s, %s::jsonb)"
            ).format(self.table("states")),
            [*self.key, state.lineage, state.serial, _json(state.header())],
        )

    def _blobs(self, conn: psycopg.Connection[Any], blobs: Blobs, known: set[str]) -> None:
        """Store the texts not stored yet (asking only about digests not known present)."""
        unknown = [d for d in blobs if d not in known]
        if not unknown:
            return
        table = self.table("state_blobs")
        present = {
            str(r[0])
            for r in self._write(
                conn,
                sql.SQL("SELECT digest FROM {} WHERE digest = ANY(%s::text[])").format(table),
                [unknown],
            ).fetchall()
        }
        new = [d for d in unknown if d not in present]
        if new:
            self._write(
                conn,
                sql.SQL(
                    "INSERT INTO {} (digest, content) SELECT * FROM"
                    " unnest(%s::text[], %s::text[]) ON CONFLICT (digest) DO NOTHING"
                ).format(table),
                [new, [text_of(blobs[d]) for d in new]],
            )
        known.update(unknown)

    def _history(
        self, conn: psycopg.Connection[Any], state: State, addresses: Sequence[str], whole: bool
    ) -> None:
        """The previous header with the previous records of the changed addresses (all of
        them for a whole write), or the whole previous document of the one-row layout.
        Built by the server from what it holds: only the addresses are sent."""
        history, states, rows = (
            self.table("state_history"),
            self.table("states"),
            self.table("state_resources"),
        )
        replaced = (
            sql.SQL(
                "(SELECT jsonb_object_agg(r.address, r.record) FROM {rows} r"
                " WHERE r.project = s.project AND r.environment = s.environment)"
            )
            if whole
            else sql.SQL(
                "(SELECT jsonb_object_agg(a.address, r.record) FROM unnest(%s::text[]) AS"
                " a(address) LEFT JOIN {rows} r ON r.project = s.project"
                " AND r.environment = s.environment AND r.address = a.address)"
            )
        ).format(rows=rows)
        query = sql.SQL(
            "INSERT INTO {history} (project, environment, lineage, serial, document)"
            " SELECT s.project, s.environment, s.lineage, s.serial, CASE WHEN"
            " s.document ? 'resources' THEN s.document ELSE s.document ||"
            " jsonb_build_object('replaced', COALESCE({replaced}, '{{}}'::jsonb)) END"
            " FROM {states} s WHERE s.project = %s AND s.environment = %s"
        ).format(history=history, states=states, replaced=replaced)
        self._write(conn, query, ([] if whole else [list(addresses)]) + self.key)

    def prune_history(self, conn: psycopg.Connection[Any], keep: int) -> None:
        self._write(
            conn,
            sql.SQL(
                "DELETE FROM {0} WHERE project = %s AND environment = %s AND id NOT IN"
                " (SELECT id FROM {0} WHERE project = %s AND environment = %s"
                " ORDER BY id DESC LIMIT %s)"
            ).format(self.table("state_history")),
            [*self.key, *self.key, keep],
        )


def encoded(resources: Mapping[str, Any], blobs: Blobs) -> dict[str, Record]:
    """Each resource as its stored record; the long texts go into `blobs`."""
    return {a: r.to_dict(blobs) for a, r in resources.items()}


def referenced(record: Mapping[str, Any]) -> set[str]:
    """The blob digests a stored record names (present in the table it was read from)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            marker = next((m for m in (MARKER, JSON_MARKER) if m in value), None)
            if marker is not None and isinstance(value[marker], str) and len(value) == 1:
                found.add(value[marker])
            else:
                for item in value.values():
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(record.get("applied"))
    return found


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _serial(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, TextRef):
        return len(value.text.encode())
    if isinstance(value, (list, tuple)):
        return sum(_size(v) for v in value)
    return 8  # a number
