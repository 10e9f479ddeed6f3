"""The local state's blobs: one file per long text, beside the state file.

`<state>.blobs/sha256/ab/cdef...` holds the UTF-8 text whose sha256 is `abcdef...`. A blob
is written (to a temporary name, fsynced, renamed, its directory fsynced) before the
document or journal line that refers to it, so a crash at any moment leaves at worst an
unreferenced blob, never a reference without its text. Blobs no document refers to any
more (neither the state file nor its backup) are removed after a compaction.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

from sigmaform.state_blobs import DIGEST_IN_TEXT, PREFIX, TextRef, checked, missing


class LocalBlobs:
    """The blob files of the state file `state_path`."""

    def __init__(self, state_path: Path, display: str) -> None:
        self.root = state_path.with_name(state_path.name + ".blobs")
        self.display = display + ".blobs"
        self._known: set[str] = set()  # digests seen on disk by this process

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

    def write(self, blobs: Mapping[str, str | TextRef]) -> None:
        """Make every blob durable that is not on disk yet (a TextRef from another store,
        e.g. `state pull`, is read from there)."""
        touched: set[Path] = set()
        for digest, value in blobs.items():
            if digest in self._known:
                continue
            path = self._path(digest)
            if not path.exists():
                text = value if isinstance(value, str) else value.text
                self._write_one(path, text.encode())
                touched.add(path.parent)
            self._known.add(digest)
        for directory in sorted(touched):
            _fsync_dir(directory)
        if touched:  # new fan-out directories must survive a power cut too
            _fsync_dir(self.root / "sha256")
            _fsync_dir(self.root)
            _fsync_dir(self.root.parent)

    def _write_one(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
            os.close(fd)
            fd = -1
            os.replace(tmp, path)
        except BaseException as error:
            if fd >= 0:
                os.close(fd)
            tmp.unlink(missing_ok=True)
            if isinstance(error, OSError) and error.errno is not None:
                raise OSError(error.errno, f"cannot write {path}: {error.strerror}") from None
            raise

    def prune(self, referenced: Iterable[str], documents: Iterable[Path]) -> None:
        """Remove blobs that neither `referenced` nor any of `documents` (the backup) name."""
        if not self.root.exists():
            return
        keep = set(referenced)
        for document in documents:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                keep.update(DIGEST_IN_TEXT.findall(document.read_text(encoding="utf-8")))
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
