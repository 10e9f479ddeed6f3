"""The local state's blobs: one file per long text, beside the state file.

`<state>.blobs/sha256/ab/cdef...` holds the UTF-8 text whose sha256 is `abcdef...`. A blob
is written (to a temporary name, fsynced, renamed, its directory fsynced) before the
document that refers to it; during an apply a new text travels in the journal line that
first names it (state_journal) and becomes a file at compaction. A crash at any moment
leaves at worst an unreferenced blob, never a reference without its text. Blobs no
document refers to any more (neither the state file nor its backup) are removed after a compaction.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

from sigmaform import state_journal
from sigmaform.errors import ConfigError
from sigmaform.state_blobs import DIGEST_IN_TEXT, PREFIX, TextRef, checked, missing


class LocalBlobs:
    """The blob files of the state file `state_path`."""

    def __init__(self, state_path: Path, display: str) -> None:
        self.state_path = state_path
        self.root = state_path.with_name(state_path.name + ".blobs")
        self.display = display + ".blobs"
        self._known: set[str] = set()  # digests seen on disk by this process
        self._journalled: set[str] = set()  # digests whose text the journal carries

    def _path(self, digest: str) -> Path:
        hexdigest = digest.removeprefix(PREFIX)
        return self.root / "sha256" / hexdigest[:2] / hexdigest[2:]

    def _shown(self, digest: str) -> str:
        path = self._path(digest)
        return f"{self.display}/{path.relative_to(self.root).as_posix()}"

    def read_blob(self, digest: str) -> str:
        where = self._shown(digest)
        try:
            data = self._path(digest).read_bytes()
        except FileNotFoundError:
            raise missing(digest, where) from None
        return checked(digest, data, where)

    def unstored(self, blobs: Mapping[str, str | TextRef]) -> dict[str, str]:
        """The texts of `blobs` neither on disk nor already carried by the journal."""
        out = {}
        for digest, value in blobs.items():
            if digest in self._known or digest in self._journalled:
                continue
            if self._path(digest).exists():
                self._known.add(digest)
                continue
            out[digest] = value if isinstance(value, str) else value.text
        return out

    def journalled(self, texts: Mapping[str, str]) -> None:
        """`texts` are durable in the journal now: later lines need not carry them."""
        self._journalled.update(texts)

    def compacted(self) -> None:
        """The journal is gone: what it carried is in blob files now (`write` ran first)."""
        self._journalled.clear()

    def write(self, blobs: Mapping[str, str | TextRef]) -> None:
        """Make every blob durable that is not on disk yet (a TextRef from another store,
        e.g. `state pull`, is read from there). All files are written first and fsynced
        after: one filesystem commit then covers most of them."""
        pending: list[tuple[Path, Path, int]] = []  # final path, temporary path, open fd
        try:
            for digest, value in blobs.items():
                if digest in self._known:
                    continue
                path = self._path(digest)
                if path.exists():
                    self._known.add(digest)
                    continue
                text = value if isinstance(value, str) else self._text_of(digest, value)
                pending.append(self._start(path, text.encode()))
            for path, _, fd in pending:
                try:
                    os.fsync(fd)
                except OSError as error:
                    raise OSError(error.errno, error.strerror, str(path)) from None
        except BaseException as error:
            for _, tmp, fd in pending:
                os.close(fd)
                tmp.unlink(missing_ok=True)
            if isinstance(error, OSError) and error.errno is not None and error.filename:
                message = f"cannot write {error.filename}: {error.strerror}"
                raise OSError(error.errno, message) from None
            raise
        for path, tmp, fd in pending:
            os.close(fd)
            os.replace(tmp, path)
        for directory in sorted({path.parent for path, _, _ in pending}):
            _fsync_dir(directory)
        if pending:  # new fan-out directories must survive a power cut too
            _fsync_dir(self.root / "sha256")
            _fsync_dir(self.root)
            _fsync_dir(self.root.parent)
        self._known.update(blobs)

    def _text_of(self, digest: str, value: TextRef) -> str:
        """A TextRef's text; for one the journal carried, the journal's copy when its
        source cannot give it any more (apply's `!file` text edited after it was sent)."""
        try:
            return value.text
        except ConfigError:
            if digest not in self._journalled:
                raise
            text = state_journal.carried_text(self.state_path, digest)
            if text is None:
                raise
            return text

    def _start(self, path: Path, data: bytes) -> tuple[Path, Path, int]:
        """A temporary file beside `path` holding `data`, still open (not yet fsynced)."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            written = 0
            while written < len(data):  # a write may be short (a file size limit, a full disk)
                written += os.write(fd, data[written:])
        except OSError as error:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise OSError(error.errno, error.strerror, str(path)) from None
        return path, tmp, fd

    def prune(self, referenced: Iterable[str], documents: Iterable[Path]) -> None:
        """Remove blobs that neither `referenced` nor any of `documents` (the backup) name."""
        if not self.root.exists():
            return
        keep = set(referenced)
        for document in documents:
            # Line by line (a marker never spans lines): the backup is not held whole. As
            # before, a document that cannot be read whole names nothing.
            named: set[str] = set()
            with contextlib.suppress(OSError, UnicodeDecodeError):
                with document.open(encoding="utf-8") as lines:
                    for line in lines:
                        named.update(DIGEST_IN_TEXT.findall(line))
                keep.update(named)
        for fan in (self.root / "sha256").glob("??"):
            for path in fan.iterdir():
                digest = PREFIX + fan.name + path.name
                if digest not in keep:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                    self._known.discard(digest)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not every platform lets a directory be opened
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
