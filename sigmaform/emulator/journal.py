"""The request journal: what each request asked for and what it got, for tests to read.

Headers are not recorded, so the `X-API-Key` value never reaches the journal, and secrets
in request bodies (a webhook's `secret`, any `password`, `token` or `apiKey`) are recorded
as `(sensitive)`: the journal is a file in the project directory, read by people and tools.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sigmaform.sensitive import MASK


@dataclass(frozen=True)
class JournalEntry:
    method: str
    path: str
    query: str  # the raw query string, "" when none
    status: int
    body: Any  # the parsed JSON request body, or None


class Journal:
    """Entries in memory, and appended as JSON lines to each of `files` (under a file lock
    beside each, `<file>.lock`, so several processes can share one file). `keep=False`: the
    files only, for a process that never reads the entries back (memory would grow with
    every request body)."""

    def __init__(self, files: Sequence[Path] = (), *, keep: bool = True) -> None:
        self._files = tuple(files)
        self._keep = keep
        self._entries: list[JournalEntry] = []
        self._lock = threading.Lock()

    @property
    def entries(self) -> list[JournalEntry]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget the in-memory entries (journal files are left as they are)."""
        with self._lock:
            self._entries.clear()

    def record(self, entry: JournalEntry) -> None:
        entry = dataclasses.replace(entry, body=mask_secrets(entry.body))
        if self._keep:
            with self._lock:
                self._entries.append(entry)
        if not self._files:
            return
        line = json.dumps(asdict(entry), separators=(",", ":")) + "\n"
        from filelock import FileLock

        for path in self._files:
            with (
                FileLock(path.with_name(path.name + ".lock")),
                open(path, "a", encoding="utf-8") as handle,
            ):
                handle.write(line)


# Request-body keys that hold a secret, compared case-insensitively.
SECRET_KEYS = frozenset({"secret", "password", "token", "apikey", "api_key"})


def mask_secrets(body: Any) -> Any:
    """`body` with the value of every secret-holding key replaced by the mask."""
    if isinstance(body, dict):
        return {
            key: MASK
            if isinstance(key, str) and key.lower() in SECRET_KEYS and body[key] is not None
            else mask_secrets(body[key])
            for key in body
        }
    if isinstance(body, list):
        return [mask_secrets(item) for item in body]
    return body


def read_journal(path: Path) -> list[JournalEntry]:
    """The entries of a journal file (for tests that ran the CLI on `local:DIR`)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [JournalEntry(**json.loads(line)) for line in lines if line.strip()]
