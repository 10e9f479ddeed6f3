"""Sensitive values: a type that renders as `(sensitive)` everywhere but the API body.

A secret is wrapped the moment it is read (from `${secret.X}` or a webhook `secret`
field) and only `reveal()` gives the text back; the client calls it when it builds a
request body. Anything else that formats the value -- a plan, a log line, an error,
`repr()` in a traceback -- sees the mask.

Every secret wrapped is also remembered for `scrub()`, which masks it (in any letter
case, and JSON-escaped) in text that comes from elsewhere: a server that echoes our
request, or a library quoting its input, cannot put it in an error message.

State keeps a keyed fingerprint of each secret, so a rotation shows as a change. A
committed state is public to whoever reads the repository, so a fingerprint must not
let them test guesses quickly: the secret is first stretched with scrypt (memory-hard,
about 16 MiB and tens of milliseconds per guess, salted per state), then HMAC'd with a
key derived from the state's lineage and, when set, the project key in
SIGMAFORM_FINGERPRINT_KEY (without which no guess can be tested at all). What is stored
is the first 128 bits of that HMAC in base64url (`sensitive:v3:`): enough that two
secrets never share one by chance, and no help to a guesser, whose cost is the scrypt.
Version 2 stored all 256 bits in hex; its fingerprints are read as their first 128 bits,
so a state written before shows no change for an unchanged secret.
"""

from __future__ import annotations

import _thread
import base64
import functools
import hashlib
import hmac
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "(sensitive)"
FINGERPRINT_PREFIX = "sensitive:v3:"
V2_PREFIX = "sensitive:v2:scrypt-hmac-sha256:"  # state version 2: the same HMAC, whole, hex
_V2 = re.compile(re.escape(V2_PREFIX) + "[0-9a-f]{64}")
_FINGERPRINT_BYTES = 16
LEGACY_PREFIX = "sensitive:hmac-sha256:"  # before 2026-12: HMAC of the plain secret
FINGERPRINT_KEY_VAR = "SIGMAFORM_FINGERPRINT_KEY"
MIN_SCRUBBED = 4  # shorter values would mask ordinary words in every message
# scrypt cost: 2**14 x 8 x 128 bytes = 16 MiB per evaluation.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 2**20, "dklen": 32}

_known: set[str] = set()  # every form of every value remembered
_remembered: set[str] = set()  # the values whose forms are in _known
_known_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None


def remember(value: str) -> None:
    """Mask `value` in every later `scrub()` (secrets, API keys, database passwords)."""
    global _pattern
    if len(value) < MIN_SCRUBBED or value in _remembered:  # a secret used by many agents
        return
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    with _known_lock:
        _remembered.add(value)
        if forms <= _known:
            return
        _known.update(forms)
        _pattern = None


def forget_remembered() -> None:
    """Start over with nothing remembered: for a process that runs several commands
    (tests, embedding), so one command's secrets do not mask another's messages."""
    global _pattern
    with _known_lock:
        _known.clear()
        _remembered.clear()
        _pattern = None


def scrub(text: str) -> str:
    """`text` with every remembered sensitive value, in any letter case, shown as the mask."""
    global _pattern
    with _known_lock:
        if not _known:
            return text
        if _pattern is None:
            alternatives = sorted(_known, key=len, reverse=True)
            _pattern = re.compile("|".join(map(re.escape, alternatives)), re.IGNORECASE)
        pattern = _pattern
    return pattern.sub(MASK, text)


class Sensitive:
    """A secret string. `source` names where it came from (e.g. `${secret.X}`), never the value."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "literal", *, secret: bool = True) -> None:
        self._value = value
        self.source = source
        if secret:  # not for the local emulator's fixed key, "local"
            remember(value)

    def reveal(self) -> str:
        return self._value

    def fingerprint(self, key: bytes) -> str:
        return fingerprint(self._value, key)

    def __repr__(self) -> str:
        return f"Sensitive({self.source})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sensitive):
            return hmac.compare_digest(self._value, other._value)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Sensitive", hashlib.sha256(self._value.encode()).hexdigest()))

    def __reduce__(self) -> Any:  # pickling would write the value somewhere: refuse
        raise TypeError("Sensitive values cannot be pickled")


def fingerprint_key(lineage: str, environ: Mapping[str, str] | None = None) -> bytes:
    """The HMAC key (and scrypt salt) for one state's fingerprints."""
    project = (os.environ if environ is None else environ).get(FINGERPRINT_KEY_VAR, "")
    if project:
        remember(project)
    message = b"sigmaform-fingerprint-v2:" + lineage.encode()
    return hmac.new(project.encode(), message, hashlib.sha256).digest()


def legacy_fingerprint_key(lineage: str) -> bytes:
    """The key of LEGACY_PREFIX fingerprints, readable by anyone holding the state."""
    return hashlib.sha256(b"sigmaform-fingerprint:" + lineage.encode()).digest()


def _stretched(value: str, salt: bytes) -> bytes:
    """scrypt of one secret, once per process: one secret used by 1,000 agents costs one."""
    with _stretches_lock:
        held = _stretches.get((value, salt))
    if isinstance(held, bytes):
        return held
    result = _scrypt(value, salt) if held is None else held.result()
    with _stretches_lock:
        if len(_stretches) >= _MAX_STRETCHES:  # a long-lived process (tests) with many states
            _stretches.clear()
        _stretches[(value, salt)] = result
    return result


def _scrypt(value: str, salt: bytes) -> bytes:
    return hashlib.scrypt(value.encode("utf-8"), salt=salt, **_SCRYPT)


class _Stretching:
    """One scrypt, run on its own thread when a spare core is free; `result()` gives it.

    scrypt releases the GIL, so it runs beside the caller's own work. At most one runs
    per spare core at a time (`_spare_cores`), so the caller keeps a core while it loads
    files. A caller that asks for a result its thread has not started yet computes it
    itself instead of waiting idle: once the files are loaded, the scrypts still queued
    run two at a time. A bare `_thread`: concurrent.futures (and the logging it imports)
    costs more than the thread, and `threading.Thread.start` waits until the new thread
    runs, which on a busy machine is a scheduler's slice. Like a daemon thread, it does
    not keep a failing command from exiting.
    """

    __slots__ = ("_claimed", "_done", "_error", "_result", "_salt", "_value")

    def __init__(self, value: str, salt: bytes) -> None:
        self._value = value
        self._salt = salt
        self._claimed = _thread.allocate_lock()  # taken by whichever runs the scrypt
        self._done = _thread.allocate_lock()
        self._done.acquire()  # released when the result is in
        self._result = b""
        self._error: BaseException | None = None
        _thread.start_new_thread(self._run_on_a_spare_core, ())

    def _run_on_a_spare_core(self) -> None:
        with _cores:
            if self._claimed.acquire(blocking=False):
                self._run()

    def _run(self) -> None:
        try:
            self._result = _scrypt(self._value, self._salt)
        except BaseException as error:  # handed to whoever waits for the result
            self._error = error
        finally:
            self._done.release()
        _give_back_memory()

    def result(self) -> bytes:
        if self._claimed.acquire(blocking=False):
            self._run()  # not started yet: here, rather than wait for a core
        with self._done:  # held until the result is in
            pass
        if self._error is not None:
            raise self._error
        return self._result


def _give_back_memory() -> None:
    """Return the 16 MiB a scrypt freed to the system (glibc's `malloc_trim`).

    Once one such block is freed, glibc raises its thresholds above 16 MiB, and the next
    scrypts' blocks stay held by the threads' arenas after they end: 16 MiB each at the
    peak of a 10,000-agent plan (284 MB against 235 MB when they are given back).
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    try:
        import ctypes

        return ctypes.CDLL(None).malloc_trim
    except (ImportError, OSError, AttributeError, TypeError):  # not glibc: nothing to give back
        return None


# (secret, salt) -> its scrypt, or the work computing it on another thread.
_stretches: dict[tuple[str, bytes], bytes | _Stretching] = {}
_stretches_lock = threading.Lock()
_MAX_STRETCHES = 1024


def _spare_cores() -> int:
    """Cores for scrypt beside the main thread: all but one, and at least one.

    scrypt is memory-hard (16 MiB each): two at once on a 2-core machine slowed a plan of
    1,000 agents from 258 to 281 ms (median of 8), more than the second scrypt saved.
    """
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (usable or 1) - 1)


_cores = threading.BoundedSemaphore(_spare_cores())


def stretch_soon(value: str, key: bytes) -> None:
    """Start stretching `value` on another thread, unless it is stretched or under way.

    Called as soon as a secret is known (the loader calls it for each one it renders),
    so that by the time a fingerprint is asked for, its scrypt is done. The fingerprint
    is exactly `fingerprint`'s; nothing is kept but this process's cache.
    """
    with _stretches_lock:
        if (value, key) not in _stretches:
            _stretches[(value, key)] = _Stretching(value, key)


def prefetch_fingerprints(values: Iterable[str], key: bytes) -> None:
    """Start stretching the distinct secrets not stretched yet, on other threads.

    A plan with 4 distinct secrets then goes on with its own work while they are
    stretched, and rarely waits for one.
    """
    for value in sorted(set(values)):
        stretch_soon(value, key)


def sensitive_values(value: Any) -> list[str]:
    """The text of every Sensitive in a tree (for prefetch_fingerprints), in no order."""
    found: list[str] = []
    stack = [value]
    while stack:  # a loop, not recursion: it runs over every node of every spec
        item = stack.pop()
        if isinstance(item, Sensitive):
            found.append(item.reveal())
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def fingerprint(value: str, key: bytes) -> str:
    """Keyed, stretched fingerprint of a secret, safe to store: shows a rotation."""
    digest = hmac.new(key, _stretched(value, key), hashlib.sha256).digest()
    return FINGERPRINT_PREFIX + short_b64(digest)


def short_b64(digest: bytes) -> str:
    """The first 128 bits of a digest in base64url, unpadded (22 characters): the form of
    state's secret fingerprints and config digests."""
    return base64.urlsafe_b64encode(digest[:_FINGERPRINT_BYTES]).rstrip(b"=").decode()


def is_fingerprint(value: object) -> bool:
    return isinstance(value, str) and value.startswith(
        (FINGERPRINT_PREFIX, V2_PREFIX, LEGACY_PREFIX)
    )


def from_v2(applied: Any) -> Any:
    """A tree from state version 2 or earlier with each `sensitive:v2:` fingerprint in the
    current form: the same HMAC, shortened, so it needs no secret and no key."""
    if isinstance(applied, str):
        if applied.startswith(V2_PREFIX) and _V2.fullmatch(applied):
            return FINGERPRINT_PREFIX + short_b64(bytes.fromhex(applied[len(V2_PREFIX) :]))
        return applied
    if isinstance(applied, dict):
        return {k: from_v2(v) for k, v in applied.items()}
    if isinstance(applied, list):
        return [from_v2(v) for v in applied]
    return applied


def _legacy_matches(stored: str, value: str, legacy_key: bytes) -> bool:
    digest = hmac.new(legacy_key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return hmac.compare_digest(stored, LEGACY_PREFIX + digest)


def upgrade_fingerprints(
    applied: Any, sources: tuple[Any, ...], legacy_key: bytes, key: bytes
) -> Any:
    """`applied` with each legacy fingerprint re-made in the current form, where one of
    `sources` (spec-shaped trees holding the plain or Sensitive value at the same place)
    shows the value it fingerprints. One that matches none is left as it is: the secret
    changed since, and compares as changed until the next apply records the new one."""
    if isinstance(applied, str):
        if not applied.startswith(LEGACY_PREFIX):
            return applied
        for source in sources:
            text = source.reveal() if isinstance(source, Sensitive) else source
            if isinstance(text, str) and _legacy_matches(applied, text, legacy_key):
                return fingerprint(text, key)
        return applied
    if isinstance(applied, dict):
        return {
            k: upgrade_fingerprints(
                v,
                tuple(s[k] for s in sources if isinstance(s, Mapping) and k in s),
                legacy_key,
                key,
            )
            for k, v in applied.items()
        }
    if isinstance(applied, list):
        return [
            upgrade_fingerprints(
                v,
                tuple(s[i] for s in sources if isinstance(s, list) and i < len(s)),
                legacy_key,
                key,
            )
            for i, v in enumerate(applied)
        ]
    return applied


def has_legacy(value: Any) -> bool:
    """Whether a tree holds a fingerprint in the legacy form (asked of every applied spec)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if item.startswith(LEGACY_PREFIX):
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def fingerprint_like(value: Any, templates: tuple[Any, ...], key: bytes) -> Any:
    """`value` (from the server) with each plain string fingerprinted where one of
    `templates` (desired or state, same shape) holds a fingerprint: a `${secret.X}` in
    any field compares by fingerprint and never reaches state in clear."""
    if not templates:
        return value
    if isinstance(value, str):
        if not is_fingerprint(value) and any(is_fingerprint(t) for t in templates):
            return fingerprint(value, key)
        return value
    if isinstance(value, dict):
        return {
            k: fingerprint_like(
                v, tuple(t[k] for t in templates if isinstance(t, Mapping) and k in t), key
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            fingerprint_like(
                v, tuple(t[i] for t in templates if isinstance(t, list) and i < len(t)), key
            )
            for i, v in enumerate(value)
        ]
    return value


def reveal_tree(value: Any) -> Any:
    """A copy of `value` with every Sensitive replaced by its text: for request bodies only."""
    if isinstance(value, Sensitive):
        return value.reveal()
    if isinstance(value, dict):
        return {k: reveal_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal_tree(v) for v in value]
    return value


def mask_tree(value: Any) -> Any:
    """A copy of `value` with every Sensitive (and fingerprint) shown as the mask."""
    if isinstance(value, Sensitive) or is_fingerprint(value):
        return MASK
    if isinstance(value, dict):
        return {k: mask_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_tree(v) for v in value]
    return value


def fingerprint_tree(value: Any, key: bytes) -> Any:
    """A copy of `value` with every Sensitive replaced by its keyed fingerprint: for state."""
    if isinstance(value, Sensitive):
        return value.fingerprint(key)
    # Plain text, numbers and booleans are kept without a call each: a plan runs this over
    # every field of every resource.
    if isinstance(value, dict):
        return {
            k: v if v.__class__ in _PLAIN_LEAVES else fingerprint_tree(v, key)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [v if v.__class__ in _PLAIN_LEAVES else fingerprint_tree(v, key) for v in value]
    return value


_PLAIN_LEAVES = frozenset({str, int, float, bool, type(None)})


def source_tree(value: Any) -> Any:
    """A copy with each Sensitive replaced by its source expression: digests that need no secret."""
    if isinstance(value, Sensitive):
        return f"<{value.source}>"
    if isinstance(value, dict):
        return {k: source_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [source_tree(v) for v in value]
    return value
