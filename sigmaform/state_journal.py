"""The local state's write-ahead journal: per-resource records appended during an apply.

Rewriting the whole state document after every group of successes makes recording a
success cost the size of the state, so a wide apply grows quadratically. Instead each
group is one line appended to `<state>.journal` and fsynced (its cost is the change), and
the document is rewritten once, at the end of the apply (compaction). A killed apply
leaves the document and its journal; reading replays the journal over the document, and
the next write compacts them, so nothing recorded is lost.

One line per group: `{"version", "lineage", "serial", "environment", "workspace"?,
"changes": [[address, resource or null], ...]}`, resources encoded as the document of that
version encodes them (long text as blob markers from version 2; a line without a version
is version 1, as written before blobs). A line also carries, under `blobs`, the text of
each long value it names that is not stored as a blob file yet: the line's one fsync makes
it durable, instead of one fsync per file (compaction writes the files, together, before
the document that names them). Replaying is idempotent (each change sets or removes
one address), and lines at or below the document's serial are already in it (a crash
between writing the document and removing the journal). Only the last line can be torn
(a kill mid-append): it never reached fsync, so it is dropped, which loses nothing that
was reported as saved.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sigmaform.errors import ConfigError, Problem

if TYPE_CHECKING:
    from sigmaform.state import ResourceState, State
    from sigmaform.state_blobs import BlobReader

Change = tuple[str, "ResourceState | None"]
Record = tuple[str, "dict[str, Any] | None"]  # a change as stored: the encoded resource


def journal_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".journal")


def append(
    state_path: Path,
    state: State,
    records: Sequence[Record],
    texts: Mapping[str, str] | None = None,
) -> None:
    """Append one group of changes (made at `state.serial`) and make it durable. Each blob
    the records name must be durable already or be in `texts` (digest -> text)."""
    from sigmaform.state import STATE_VERSION

    line: dict[str, Any] = {
        "version": STATE_VERSION,
        "lineage": state.lineage,
        "serial": state.serial,
        "environment": state.environment,
        "changes": [[a, r] for a, r in records],
    }
    if texts:
        line["blobs"] = dict(texts)
    if state.workspace:
        line["workspace"] = state.workspace
    data = (json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n").encode()
    path = journal_path(state_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    start = os.fstat(fd).st_size
    try:
        written = 0
        while written < len(data):  # a write may be short (a file size limit, a full disk)
            written += os.write(fd, data[written:])
        os.fsync(fd)
    except BaseException as error:
        # Leave no torn line behind: a later append after it would damage the journal.
        os.ftruncate(fd, start)
        os.close(fd)
        if created:
            path.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno is not None:
            raise OSError(error.errno, f"cannot write {path}: {error.strerror}") from None
        raise
    os.close(fd)
    if created:  # the new directory entry must survive a power cut too
        _fsync_dir(path.parent)


def discard(state_path: Path) -> None:
    """Drop the journal once the document holds everything in it."""
    with contextlib.suppress(FileNotFoundError):
        journal_path(state_path).unlink()


def replay(
    document: State | None, state_path: Path, display: str, blobs: BlobReader | None = None
) -> State | None:
    """`document` with the journal's groups applied in order (None: neither exists)."""
    from sigmaform.state import State

    path = journal_path(state_path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return document
    source = display + ".journal"
    lines = raw.split(b"\n")
    state = document
    # Texts the lines carry, read before the blob files (which may not be written yet).
    blobs = JournalTexts(blobs, source)
    resources: dict[str, ResourceState] | None = None
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            entry = json.loads(text)
            lineage, serial = str(entry["lineage"]), int(entry["serial"])
            changes = entry["changes"]
        except (ValueError, KeyError, TypeError):
            if not any(rest.strip() for rest in lines[number:]):
                break  # a torn last line: never fsynced, so never reported as saved
            raise ConfigError(
                Problem(source, number, message="state journal line is damaged")
            ) from None
        if state is None:
            state = State(environment=str(entry["environment"]), lineage=lineage)
        if lineage != state.lineage:
            raise ConfigError(
                Problem(
                    source,
                    number,
                    message=f"state journal belongs to another state (lineage {lineage}, "
                    f"the state file has {state.lineage}); move it aside if the state file "
                    "was replaced on purpose",
                )
            )
        if document is not None and serial <= document.serial:
            continue  # already compacted into the document
        if resources is None:
            resources = dict(state.resources)
        version = entry.get("version", 1)
        blobs.add(entry.get("blobs"), number)
        _apply(resources, changes, source, number, blobs, version)
        workspace = entry.get("workspace") or state.workspace
        state = State(
            environment=state.environment,
            lineage=state.lineage,
            serial=serial,
            resources=resources,
            workspace=workspace,
            tests=state.tests,
        )
    return state


def _apply(
    resources: dict[str, ResourceState],
    changes: Any,
    source: str,
    number: int,
    blobs: BlobReader | None,
    version: Any,
) -> None:
    from sigmaform.state import READABLE_VERSIONS, ResourceState

    if version not in READABLE_VERSIONS or isinstance(version, bool):
        raise ConfigError(
            Problem(source, number, message=f"state journal line has unknown version {version!r}")
        )
    try:
        for address, record in changes:
            if record is None:
                resources.pop(str(address), None)
            else:
                resources[str(address)] = ResourceState.from_dict(
                    _mapping(record), blobs, address=str(address), version=version, source=source
                )
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            Problem(source, number, message=f"state journal line is damaged: {error!r}")
        ) from None


def carried_text(state_path: Path, digest: str) -> str | None:
    """The text of blob `digest` as a journal line carried it, if one did.

    For a text held by digest that its source can no longer give (apply's `!file` text,
    the file edited after it was sent): the journal holds what was recorded. Lines are
    read one at a time, and parsed only when they name the digest.
    """
    from sigmaform.state_blobs import checked

    try:
        journal = journal_path(state_path).open("rb")
    except FileNotFoundError:
        return None
    with journal:
        for line in journal:
            if digest.encode() not in line:
                continue
            try:
                text = json.loads(line).get("blobs", {}).get(digest)
            except (ValueError, AttributeError):
                continue  # a torn last line: what it carried was never reported as saved
            if isinstance(text, str):
                return checked(digest, text.encode(), f"{journal_path(state_path)}")
    return None


class JournalTexts:
    """A blob reader that knows the texts carried by journal lines, else asks `files`."""

    def __init__(self, files: BlobReader | None, source: str) -> None:
        self.files = files
        self.source = source
        self.texts: dict[str, str] = {}

    def add(self, texts: Any, number: int) -> None:
        if texts is None:
            return
        if not isinstance(texts, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in texts.items()
        ):
            raise ConfigError(Problem(self.source, number, message="state journal line is damaged"))
        self.texts.update(texts)

    def read_blob(self, digest: str) -> str:
        from sigmaform.state_blobs import checked, missing

        text = self.texts.get(digest)
        if text is not None:
            return checked(digest, text.encode(), f"{self.source} (blob {digest})")
        if self.files is None:
            raise missing(digest, self.source)
        return self.files.read_blob(digest)


def _mapping(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError("a resource record must be an object")
    return value


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
