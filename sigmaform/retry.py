"""Retry policy for API calls: jittered exponential backoff inside a time and attempt budget.

Pure: the clock and the random source are passed in, so the arithmetic is testable
without sleeping. The client decides *whether* a failure may be retried; this module
decides *how long* to wait and *when to stop*.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Jitter draws from its own generator: the process-wide one belongs to the caller (and to
# test frameworks that watch it), and retries run on worker threads.
_JITTER = random.Random()


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Defaults suit a CI run against the real service."""

    max_elapsed_s: float = 60.0
    base_delay_s: float = 0.2
    max_delay_s: float = 10.0
    max_attempts: int = 8

    def backoff(self, failures: int, rand: Callable[[], float] = _JITTER.random) -> float:
        """Full-jitter delay after the n-th consecutive failure (n >= 1)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** max(0, failures - 1))
        return rand() * ceiling


DEFAULT_RETRY = RetryPolicy()
MAX_RETRY_AFTER_S = 300.0


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP-date); None if absent."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        current = now if now is not None else datetime.now(UTC)
        seconds = (when - current).total_seconds()
    if math.isnan(seconds):
        return None
    # A server's number is not trusted: below zero means now, and no wait is longer than
    # MAX_RETRY_AFTER_S (a retry budget gives up sooner anyway).
    return min(MAX_RETRY_AFTER_S, max(0.0, seconds))


class Budget:
    """The attempts and time one logical request may spend; asks how long to wait next.

    Rate-limit waits (429) spend time but not attempts: the server said "later", not "broken".
    """

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = _JITTER.random,
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._rand = rand
        self._start = clock()
        self.attempts = 0  # requests sent so far, including rate-limited ones
        self.failures = 0  # attempts that count against max_attempts

    @property
    def elapsed(self) -> float:
        return self._clock() - self._start

    def attempted(self) -> None:
        self.attempts += 1

    def next_delay(self, *, retry_after: float | None = None) -> float | None:
        """Delay before the next attempt, or None when the budget is spent.

        `retry_after` given means the server rate-limited us and named a wait: honoured
        exactly (plus a little jitter so parallel workers do not wake together), unless it
        would outlast the time budget.
        """
        remaining = self.policy.max_elapsed_s - self.elapsed
        if retry_after is not None:
            delay = retry_after + self._rand() * self.policy.base_delay_s
        else:
            self.failures += 1
            if self.failures >= self.policy.max_attempts:
                return None
            delay = self.policy.backoff(self.failures, self._rand)
        if delay > remaining:
            return None
        return delay
