"""The data a loaded file gives (documents, marks, `!file` references) and disk I/O:
regular-file reads, atomic writes, paths as shown. Reading YAML is `yamlload.py`;
writing it, `yamldump.py`."""

from __future__ import annotations

import gc
import json
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sigmaform.errors import Problem

FILE_TAG = "!file"
MAX_DEPTH = 100  # deeper data is a mistake or an attack; libyaml's composer recurses on the C stack
MAX_ALIAS_NODES = 10_000  # nodes reached through aliases, per document: stops "billion laughs"

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)  # one per YAML node: slots keep 10,000 agents' marks small
class Mark:
    """A position in a file, 1-based."""

    line: int
    column: int


@dataclass(frozen=True)
class FileRef:
    """The value of a `!file PATH` tag; rendering reads the file."""

    path: str
    mark: Mark


class Document:
    """One YAML document: plain data plus where each value sits in the file.

    `marks` (by path) and `key_marks` (where each mapping key starts: unknown-key
    messages) are worked out when first asked for, from the document's `node` when it was
    loaded without them (see load_documents); `mark_at` and `locate` answer for one path
    without working out the others.
    """

    def __init__(
        self,
        path: Path,
        display: str,
        index: int,
        data: Any,
        marks: dict[JsonPath, Mark] | None = None,
        key_marks: dict[JsonPath, Mark] | None = None,
        *,
        node: yaml.Node | None = None,
    ) -> None:
        self.path = path
        self.display = display
        self.index = index
        self.data = data
        self._node = node  # kept only until the marks are worked out
        lazy = node is not None and marks is None
        self._marks = None if lazy else ({} if marks is None else marks)
        self._key_marks = None if lazy else ({} if key_marks is None else key_marks)

    def __repr__(self) -> str:
        return f"Document({self.display!r}, {self.index})"

    @property
    def marks(self) -> dict[JsonPath, Mark]:
        if self._marks is None:
            self._work_out_marks()
        assert self._marks is not None
        return self._marks

    @property
    def key_marks(self) -> dict[JsonPath, Mark]:
        if self._key_marks is None:
            self._work_out_marks()
        assert self._key_marks is not None
        return self._key_marks

    def _work_out_marks(self) -> None:
        # Imported here: the loader makes Documents, so it imports this module.
        from sigmaform.yamlload import marks_of

        assert self._node is not None
        self._marks, self._key_marks = marks_of(self._node)
        self._node = None

    def mark_at(self, path: JsonPath, *, key: bool = False) -> Mark | None:
        """`marks.get(path)` (`key_marks` with `key`), found in the node when the marks
        have not been worked out: a plan asks a few per document, of thousands."""
        if self._marks is not None:
            return (self.key_marks if key else self._marks).get(path)
        node: Any = self._node
        found = node
        for part in path:
            if node.__class__ is yaml.MappingNode and isinstance(part, str):
                for key_node, value_node in node.value:
                    if key_node.value == part:
                        found, node = key_node, value_node
                        break
                else:
                    return None
            elif node.__class__ is yaml.SequenceNode and isinstance(part, int):
                if not 0 <= part < len(node.value):
                    return None
                found = node = node.value[part]
            else:
                return None
        if key and (not path or found is node):
            return None  # the root, or a sequence item: no key
        mark = (found if key else node).start_mark
        return Mark(mark.line + 1, mark.column + 1)

    @property
    def start(self) -> Mark:
        return self.mark_at(()) or Mark(1, 1)

    def locate(self, path: Sequence[str | int]) -> Mark:
        """The mark of `path`, or of its nearest ancestor that has one."""
        key = tuple(path)
        while key:
            mark = self.mark_at(key)
            if mark is not None:
                return mark
            key = key[:-1]
        return self.start

    def locate_key(self, path: Sequence[str | int]) -> Mark:
        """Where the mapping key at the end of `path` is written (else as `locate`)."""
        return self.mark_at(tuple(path), key=True) or self.locate(path)

    def problem(self, path: Sequence[str | int], message: str, severity: str = "error") -> Problem:
        mark = self.locate(path)
        return Problem(self.display, mark.line, mark.column, format_path(path), message, severity)


def format_path(path: Sequence[str | int]) -> str:
    """`("spec", "tools", 0, "type")` -> `spec.tools[0].type`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


class NotRegularFileError(OSError):
    """A FIFO, socket or device where a file's text was expected."""


def read_regular(path: Path | str) -> bytes:
    """The bytes of a regular file (symlinks followed).

    Anything else raises instead of blocking: reading a FIFO waits for a writer forever,
    and a device such as /dev/zero never ends. O_NONBLOCK makes opening a FIFO return at
    once, so the check is made on the opened file itself, not on a path that may change.
    """
    fd = os.open(path, _READ_FLAGS)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFileError(0, "not a regular file", str(path))
        # Raw reads, without a buffered file object around them: a plan reads a file and
        # a prompt per agent. The size is a hint only; reading goes on to the end.
        chunks = [os.read(fd, info.st_size + 1)]
        while chunks[-1]:
            chunks.append(os.read(fd, 1 << 16))
        return b"".join(chunks)
    finally:
        os.close(fd)


_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Loading allocates many small acyclic objects; the cycle collector's passes over the
    growing heap cost more than the parsing (measured: ~0.16 s vs ~0.2-0.4 s for 1,000 agents).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # What was made meanwhile is still counted as young: the first collection after
        # enabling would walk all of it at once (~15 ms for 1,000 agents, each time).
        # Frozen and unfrozen, it is moved to the oldest generation instead, which only a
        # full collection walks (it still finds any cycle there).
        gc.freeze()
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def display_path(path: Path, root: Path) -> str:
    """`path` relative to the project root when inside it, else as given."""
    return relative_text(path.absolute(), root.absolute())


def relative_text(path: Path, root: Path) -> str:
    """`path.relative_to(root).as_posix()`, else `str(path)`.

    relative_to is lexical; on POSIX it is a prefix of the (normalised) text, which is
    what is tested first: pathlib's own costs ~5 us a file, twice per file of a plan.
    """
    if os.sep == "/":
        text, base = str(path), str(root)
        if text == base:
            return "."
        prefix = base if base.endswith("/") else base + "/"
        if text.startswith(prefix):
            return text[len(prefix) :]
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def dump_json(value: Any) -> str:
    """Stable JSON: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_atomic(
    path: Path, text: str | Iterable[str], *, backup: bool = False, mode: int | None = None
) -> None:
    """Write via a temp file in the same directory, fsync, rename; optionally keep `<name>.backup`.

    `text` may come in pieces (written as they are produced, never joined in memory).

    A reader sees the old file or the new one, never half of either. `mode` (e.g. 0o600
    for state and plan files) applies to the file and its backup, whatever they had.
    """
    import secrets  # here: commands that only read (plan, validate) never load it
    import shutil

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    backup_tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.backup.tmp")
    # O_EXCL with mode 0o666 lets the umask decide permissions, as for any new file.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            # os.chmod, not os.fchmod: Windows has no fchmod before Python 3.13.
            if mode is not None:
                os.chmod(tmp, mode)
            elif path.exists():
                os.chmod(tmp, path.stat().st_mode & 0o777)
            if isinstance(text, str):
                handle.write(text)
            else:
                handle.writelines(text)
            handle.flush()
            os.fsync(handle.fileno())
        if backup and path.exists():
            shutil.copy2(path, backup_tmp)
            if mode is not None:
                os.chmod(backup_tmp, mode)
            os.replace(backup_tmp, path.with_name(path.name + ".backup"))
        os.replace(tmp, path)
    except BaseException as error:
        # A full disk (or a file size limit) must not leave half-written temp files
        # behind; the previous file and its backup are untouched.
        tmp.unlink(missing_ok=True)
        backup_tmp.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno is not None:
            raise OSError(error.errno, f"cannot write {path}: {error.strerror}") from None
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable; not every platform lets a directory be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
