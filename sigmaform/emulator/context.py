"""What a handler works with: the caller's workspace, the id maker and the server's modes."""

from __future__ import annotations

import random
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sigmaform.emulator.judge import Judge
from sigmaform.emulator.store import Workspace

SettingsPatch = Literal["merge", "replace"]

_ALPHABET = string.ascii_letters + string.digits


class IdMaker:
    """Random ids shaped like the docs' (`SPIlVscbB0kkXBvZ`, `wh_…`, `chat_…`).

    With a seed the sequence repeats, so two processes seeded alike would propose the same
    ids: callers pass `exists` and a taken id is simply skipped.
    """

    def __init__(self, seed: int | None) -> None:
        self._rng: random.Random = (
            random.Random(f"ids:{seed}") if seed is not None else random.SystemRandom()
        )
        self._lock = threading.Lock()

    def new(self, prefix: str, exists: Callable[[str], bool], length: int = 16) -> str:
        while True:
            with self._lock:
                candidate = prefix + "".join(self._rng.choices(_ALPHABET, k=length))
            if not exists(candidate):
                return candidate

    def secret(self) -> str:
        with self._lock:
            return "whsec_" + "".join(self._rng.choices(_ALPHABET, k=32))


@dataclass(frozen=True)
class Context:
    ws: Workspace
    ids: IdMaker
    settings_patch: SettingsPatch = "merge"
    judge: Judge = Judge()  # noqa: RUF009  frozen, so sharing it is safe; how batch runs' attempts turn out (judge.py)
