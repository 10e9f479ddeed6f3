"""The request journal: what each request asked for and what it got, for tests to read.

Headers are not recorded, so the `X-API-Key` value never reaches the journal.
"""

from __future__ import annotations

import fcntl
import json
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class JournalEntry:
    method: str
    path: str
    query: str  # the raw query string, "" when none
    status: int
    body: Any  # the parsed JSON request body, or None


class Journal:
    """Entries in memory, and appended as JSON lines to each of `files` (with `flock`, so
    several processes can share one file)."""

    def __init__(self, files: Sequence[Path] = ()) -> None:
        self._files = tuple(files)
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
        with self._lock:
            self._entries.append(entry)
        if not self._files:
            return
        line = json.dumps(asdict(entry), separators=(",", ":")) + "\n"
        for path in self._files:
            with open(path, "a", encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                handle.write(line)


def read_journal(path: Path) -> list[JournalEntry]:
    """The entries of a journal file (for tests that ran the CLI on `local:DIR`)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [JournalEntry(**json.loads(line)) for line in lines if line.strip()]
