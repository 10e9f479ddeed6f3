"""Workspace persistence: one workspace per API key, in memory or one JSON file per object.

On disk a workspace is `<data_dir>/workspaces/<sha256(api key)>/<collection>/<id>.json`
(the key itself is never written). Each object is its own file, written atomically (temp
file + `os.replace`), so a read never sees half a write and a list of 1,000 agents rereads
only files whose stat changed. Read-modify-write sequences run under `Workspace.locked()`:
a thread lock plus a file lock (`filelock`, portable) on the workspace's lock file, so
several processes may share one data directory.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar, overload

from sigmaform.emulator.wire import JsonObject

T = TypeVar("T")

# Parsed objects kept per workspace, by their files' total size: 1,000 agents with 10 KB
# prompts fit (a listing rereads nothing). A parsed object takes more memory than its
# file, and an embedded emulator shares the apply's process: 64 MB cost it ~80 MB.
CACHE_BYTES = 16 * 1024 * 1024

_order_lock = threading.Lock()
_last_order = 0


def _next_order() -> int:
    """A creation order that increases within a process and roughly across processes."""
    global _last_order
    with _order_lock:
        _last_order = max(time.time_ns(), _last_order + 1)
        return _last_order


def key_digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class Workspace(ABC):
    """The objects one API key can see, grouped in named collections."""

    def __init__(self, digest: str) -> None:
        self.workspace_id = "org_" + digest[:16]
        self._lock = threading.RLock()

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._lock:
            yield

    @abstractmethod
    def get(self, collection: str, oid: str) -> JsonObject | None:
        """A private copy of one object, or None."""

    @abstractmethod
    def exists(self, collection: str, oid: str) -> bool: ...

    @abstractmethod
    def all(self, collection: str) -> list[JsonObject]:
        """Every object of a collection in creation order; shared objects: do not mutate."""

    def summaries(self, collection: str, summary: Callable[[JsonObject], T]) -> list[T]:
        """`summary` of every object of a collection, in creation order (it must not mutate)."""
        return [summary(obj) for obj in self.all(collection)]

    def listing(self, collection: str) -> Sequence[JsonObject]:
        """`all`, but an object may be read only when it is indexed: a page of a list
        needs its own objects, not every one (shared objects: do not mutate)."""
        return self.all(collection)

    @abstractmethod
    def put(self, collection: str, oid: str, obj: JsonObject) -> None: ...

    @abstractmethod
    def delete(self, collection: str, oid: str) -> bool: ...

    @staticmethod
    def _stamp(obj: JsonObject) -> JsonObject:
        if "_order" not in obj:
            obj["_order"] = _next_order()
        return obj


class MemoryWorkspace(Workspace):
    def __init__(self, digest: str) -> None:
        super().__init__(digest)
        self._data: dict[str, dict[str, JsonObject]] = {}

    def get(self, collection: str, oid: str) -> JsonObject | None:
        obj = self._data.get(collection, {}).get(oid)
        return copy.deepcopy(obj) if obj is not None else None

    def exists(self, collection: str, oid: str) -> bool:
        return oid in self._data.get(collection, {})

    def all(self, collection: str) -> list[JsonObject]:
        with self._lock:
            items = list(self._data.get(collection, {}).items())
        items.sort(key=lambda pair: (pair[1].get("_order", 0), pair[0]))
        return [obj for _, obj in items]

    def put(self, collection: str, oid: str, obj: JsonObject) -> None:
        stored = self._stamp(copy.deepcopy(obj))
        with self._lock:
            self._data.setdefault(collection, {})[oid] = stored

    def delete(self, collection: str, oid: str) -> bool:
        with self._lock:
            return self._data.get(collection, {}).pop(oid, None) is not None


class DiskWorkspace(Workspace):
    def __init__(self, digest: str, root: Path) -> None:
        super().__init__(digest)
        self._root = root
        # path -> (stat signature, object): reread a file only when its stat changed. Bounded
        # (least recently used out first), so 10,000 large agents do not all stay in memory.
        self._cache: OrderedDict[str, tuple[tuple[int, int, int], JsonObject]] = OrderedDict()
        self._cached_bytes = 0
        self._cache_lock = threading.Lock()
        # path -> (stat signature, creation order): what a page of a list needs to place
        # every object without parsing it. Parsing every agent for each page made a full
        # listing of 10,000 agents (100 pages) take a minute.
        self._orders: dict[str, tuple[tuple[int, int, int], int]] = {}
        root.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def locked(self) -> Iterator[None]:
        from filelock import FileLock

        with self._lock, FileLock(self._root / "lock"):
            yield

    def _path(self, collection: str, oid: str) -> Path:
        return self._root / collection / f"{oid}.json"

    def _load(self, path: Path, stat: os.stat_result, keep: bool = True) -> JsonObject:
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        key = str(path)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] == signature:
                self._cache.move_to_end(key)
                return cached[1]
        obj: JsonObject = json.loads(path.read_bytes())
        with self._cache_lock:
            self._orders[key] = (signature, obj.get("_order", 0))
        if not keep:
            return obj
        with self._cache_lock:
            self._forget(key)
            self._cache[key] = (signature, obj)
            self._cached_bytes += stat.st_size
            while self._cached_bytes > CACHE_BYTES and len(self._cache) > 1:
                self._forget(next(iter(self._cache)))
        return obj

    def _forget(self, key: str) -> None:
        """Drop one cache entry (call with the cache lock held)."""
        entry = self._cache.pop(key, None)
        if entry is not None:
            self._cached_bytes -= entry[0][1]

    def get(self, collection: str, oid: str) -> JsonObject | None:
        path = self._path(collection, oid)
        try:
            return copy.deepcopy(self._load(path, path.stat()))
        except FileNotFoundError:
            return None

    def exists(self, collection: str, oid: str) -> bool:
        return self._path(collection, oid).exists()

    def all(self, collection: str) -> list[JsonObject]:
        return self.summaries(collection, lambda obj: obj)

    def _scan(self, collection: str) -> list[tuple[os.DirEntry[str], os.stat_result]]:
        """Every object file of a collection with its stat, in no order."""
        try:
            entries = [e for e in os.scandir(self._root / collection) if e.name.endswith(".json")]
        except FileNotFoundError:
            return []
        found: list[tuple[os.DirEntry[str], os.stat_result]] = []
        for entry in entries:
            try:
                found.append((entry, entry.stat()))
            except FileNotFoundError:  # deleted by another process since the scan
                continue
        return found

    def summaries(self, collection: str, summary: Callable[[JsonObject], T]) -> list[T]:
        # Only the summaries are kept: listing the webhooks of 10,000 agents with long
        # prompts need not hold every parsed agent at once (~150 MB in an embedded apply).
        items: list[tuple[int, str, T]] = []
        found = self._scan(collection)
        # A listing larger than the cache would only push every object through it (least
        # recently used out first, in the order read) and leave it full: ~35 MB held in
        # an embedded apply of 10,000 agents for no later hit. Such a listing keeps nothing.
        keep = sum(stat.st_size for _, stat in found) <= CACHE_BYTES
        for entry, stat in found:
            try:
                obj = self._load(Path(entry.path), stat, keep)
            except FileNotFoundError:
                continue
            items.append((obj.get("_order", 0), entry.name, summary(obj)))
        items.sort(key=lambda item: (item[0], item[1]))
        return [value for _, _, value in items]

    def listing(self, collection: str) -> Sequence[JsonObject]:
        # Placed by the order index; a file is parsed here only when its order is not
        # known yet (or it changed since).
        placed: list[tuple[int, str, str, os.stat_result]] = []
        found = self._scan(collection)
        keep = sum(stat.st_size for _, stat in found) <= CACHE_BYTES
        for entry, stat in found:
            signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            with self._cache_lock:
                known = self._orders.get(entry.path)
            if known is None or known[0] != signature:
                try:
                    order = self._load(Path(entry.path), stat, keep).get("_order", 0)
                except FileNotFoundError:
                    continue
            else:
                order = known[1]
            placed.append((order, entry.name, entry.path, stat))
        placed.sort(key=lambda item: (item[0], item[1]))
        return _Listing(self, [(path, stat) for _, _, path, stat in placed], keep)

    def read_listed(self, path: str, stat: os.stat_result, keep: bool) -> JsonObject | None:
        """An object of a listing, or None when it was deleted since."""
        try:
            return self._load(Path(path), stat, keep)
        except FileNotFoundError:
            return None

    def put(self, collection: str, oid: str, obj: JsonObject) -> None:
        stored = self._stamp(copy.deepcopy(obj))
        path = self._path(collection, oid)
        path.parent.mkdir(exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            temp.write_text(json.dumps(stored, separators=(",", ":")))
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)  # a full disk leaves no half-written object behind
            raise
        stat = path.stat()
        with self._cache_lock:
            signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            self._orders[str(path)] = (signature, stored["_order"])

    def delete(self, collection: str, oid: str) -> bool:
        path = self._path(collection, oid)
        with self._cache_lock:
            self._forget(str(path))
            self._orders.pop(str(path), None)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True


class _Listing(Sequence[JsonObject]):
    """A collection in creation order whose objects are read when indexed (a page)."""

    def __init__(
        self, ws: DiskWorkspace, files: list[tuple[str, os.stat_result]], keep: bool
    ) -> None:
        self._ws = ws
        self._files = files
        self._keep = keep

    def __len__(self) -> int:
        return len(self._files)

    @overload
    def __getitem__(self, index: int) -> JsonObject: ...

    @overload
    def __getitem__(self, index: slice) -> list[JsonObject]: ...

    def __getitem__(self, index: int | slice) -> JsonObject | list[JsonObject]:
        if isinstance(index, slice):
            read = [self._ws.read_listed(p, s, self._keep) for p, s in self._files[index]]
            return [obj for obj in read if obj is not None]
        path, stat = self._files[index]
        obj = self._ws.read_listed(path, stat, self._keep)
        if obj is None:
            raise IndexError(index)  # deleted since the listing was made
        return obj


class Store:
    """Hands out the workspace of an API key; `data_dir=None` keeps everything in memory."""

    def __init__(self, data_dir: Path | None) -> None:
        self._data_dir = data_dir
        self._workspaces: dict[str, Workspace] = {}
        self._lock = threading.Lock()

    def workspace(self, api_key: str) -> Workspace:
        digest = key_digest(api_key)
        with self._lock:
            found = self._workspaces.get(digest)
            if found is None:
                if self._data_dir is None:
                    found = MemoryWorkspace(digest)
                else:
                    found = DiskWorkspace(digest, self._data_dir / "workspaces" / digest)
                self._workspaces[digest] = found
            return found
