"""Fault injection: latency, 503 errors, lost responses (502) and per-workspace rate limits."""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Faults:
    """How badly the emulator should behave; all off by default.

    `seed` makes the error and drop decisions (and the server's ids) repeat from run to run
    for the same sequence of requests.
    """

    latency_ms: float = 0
    error_rate: float = 0.0  # share of requests answered 503 before acting
    drop_rate: float = 0.0  # share of requests acted on, then answered 502 (a lost response)
    rate_limit: float | None = None  # requests per second per workspace; excess gets 429
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be 0 or greater")
        for name in ("error_rate", "drop_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("rate_limit must be greater than 0")


@dataclass(frozen=True)
class Verdict:
    """What to do with one request: refuse it up front, or act and maybe drop the answer."""

    refuse: int | None = None  # 429 or 503
    retry_after: int = 0  # seconds, for a 429
    drop: bool = False


class _Bucket:
    """A token bucket refilled continuously, holding at most one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> float:
        """0 if a token was taken, else the seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class FaultInjector:
    """Decides each request's fate; thread-safe, and never sleeps while holding its lock."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(f"faults:{faults.seed}") if faults.seed is not None else None
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    def delay(self) -> None:
        if self.faults.latency_ms > 0:
            time.sleep(self.faults.latency_ms / 1000)

    def judge(self, workspace: str) -> Verdict:
        with self._lock:
            # Both rolls are drawn for every request so the sequence depends only on order.
            rng = self._rng or random
            error_roll, drop_roll = rng.random(), rng.random()
            if self.faults.rate_limit is not None:
                bucket = self._buckets.setdefault(workspace, _Bucket(self.faults.rate_limit))
                wait = bucket.take()
                if wait > 0:
                    # Retry-After is whole seconds (RFC 9110); the bucket refills continuously,
                    # so a retry after that long always finds a token.
                    return Verdict(refuse=429, retry_after=max(1, math.ceil(wait)))
        if error_roll < self.faults.error_rate:
            return Verdict(refuse=503)
        return Verdict(drop=drop_roll < self.faults.drop_rate)
