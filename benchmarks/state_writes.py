"""What state costs to store: document bytes per resource, and the bytes of a one-agent write.

    python benchmarks/state_writes.py 100 1000 10000
    python benchmarks/state_writes.py --postgres URL 10000   # a server of your own

For each size: a generated project (benchmarks/generate.py) created on the embedded
emulator with the real planner and executor (`populate`), its state written through the
real local backend. Printed per size:

- `local_doc_bytes_per_resource`: the state document (long text out of line) / resources;
  `blob_bytes_per_resource`: the blob files beside it.
- postgres (a throwaway cluster from tests/pg.py, or --postgres): the state stored once,
  then one agent's prompt changed and recorded as apply records a success (the backend's
  `append`). `pg_one_agent_sent_bytes` is what that write sent: the SQL text and every
  parameter, counted by the backend (`PostgresBackend.sent_bytes`); `pg_one_agent_wal_bytes`
  is the server's own count of what it wrote for it (WAL position before and after,
  including full-page images).

Bars (issue 19): a one-agent change in a 10,000-agent project writes <= 64 KB to postgres;
the local document holds <= 1 KB per managed resource.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.generate import generate
from benchmarks.harness import base_environ
from benchmarks.populate import populate
from sigmaform.state import LocalBackend, State
from sigmaform.state_blobs import TextRef

REPO = Path(__file__).resolve().parent.parent


@contextmanager
def postgres(url: str | None) -> Iterator[str]:
    """`url`, or a throwaway cluster's (tests/pg.py) for the duration."""
    if url:
        yield url
        return
    sys.path.insert(0, str(REPO / "tests"))
    from pg import start_cluster  # type: ignore[import-not-found]

    cluster = start_cluster()
    if isinstance(cluster, str):
        raise SystemExit(f"no PostgreSQL server to measure with: {cluster} (pass --postgres)")
    try:
        yield cluster.create_database("bench")
    finally:
        cluster.stop()


def _wal(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')").fetchone()
    assert row is not None
    return int(row[0])


def one_agent_write(url: str, state: State) -> dict[str, int]:
    """Store `state` in a fresh schema, then record one agent's changed prompt."""
    from sigmaform.state_postgres import PostgresBackend

    schema = "bench_" + uuid.uuid4().hex[:8]
    backend = PostgresBackend(url, "bench", state.environment, schema=schema)
    stored = backend.store(replace(state, serial=1), None)
    initial = backend.sent_bytes
    address = sorted(a for a in state.resources if a.startswith("agent."))[
        len(state.resources) // 2
    ]
    resource = state.resources[address]
    prompt = resource.applied.get("instructions", "")
    text = prompt.text if isinstance(prompt, TextRef) else str(prompt)
    changed = replace(resource, applied={**resource.applied, "instructions": text + "\nBe kind."})
    before_sent, before_wal = backend.sent_bytes, _wal(url)
    backend.append(stored.with_resource(address, changed), [(address, changed)])
    return {
        "pg_initial_store_sent_bytes": initial,
        "pg_one_agent_sent_bytes": backend.sent_bytes - before_sent,
        "pg_one_agent_wal_bytes": _wal(url) - before_wal,
        "prompt_bytes": len(text.encode()) + len("\nBe kind."),
    }


def measure(work: Path, count: int, url: str | None) -> dict[str, Any]:
    root = generate(work / f"state-{count}", count)
    populate(root, "local", base_environ())
    path = root / ".sigmaform" / "state" / "local.json"
    state = LocalBackend(path).read()
    assert state is not None and len(state.resources) == count
    blobs = path.with_name(path.name + ".blobs")
    blob_bytes = sum(p.stat().st_size for p in blobs.rglob("*") if p.is_file())
    row: dict[str, Any] = {
        "agents": count,
        "local_doc_bytes_per_resource": round(path.stat().st_size / count),
        "blob_bytes_per_resource": round(blob_bytes / count),
    }
    if url is not None:
        row.update(one_agent_write(url, state))
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000])
    parser.add_argument("--postgres", metavar="URL", help="a server to measure with")
    parser.add_argument("--no-postgres", action="store_true", help="the local figures only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sigmaform-state-writes-") as tmp:
        if args.no_postgres:
            for count in args.sizes:
                print(json.dumps(measure(Path(tmp), count, None)), flush=True)
            return 0
        with postgres(args.postgres) as url:
            for count in args.sizes:
                print(json.dumps(measure(Path(tmp), count, url)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
