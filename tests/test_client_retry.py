"""The backoff arithmetic and the retry budget, with a fake clock: no sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from sigmaform.retry import Budget, RetryPolicy, parse_retry_after


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=3.0)
    always_max = [policy.backoff(n, lambda: 1.0) for n in range(1, 6)]
    assert always_max == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.backoff(4, lambda: 0.0) == 0.0


def test_backoff_stays_within_zero_and_the_cap() -> None:
    # A grid, not hypothesis: worker threads left by other tests may touch the global random
    # state, which hypothesis reports as a flaky strategy.
    policy = RetryPolicy(base_delay_s=0.2, max_delay_s=10.0)
    for failures in range(1, 201):
        for r in (0.0, 1e-9, 0.25, 0.5, 0.999999, 1.0):
            assert 0.0 <= policy.backoff(failures, lambda r=r: r) <= 10.0


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3", now) == 3.0
    assert parse_retry_after(" 1.5 ", now) == 1.5
    assert parse_retry_after("-4", now) == 0.0
    later = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(later, now) == 7.0
    earlier = format_datetime(now - timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(earlier, now) == 0.0
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("", now) is None
    assert parse_retry_after("soon", now) is None


def test_budget_stops_after_max_attempts() -> None:
    clock = FakeClock()
    budget = Budget(RetryPolicy(max_attempts=3, max_elapsed_s=1000), clock=clock, rand=lambda: 1)
    delays = []
    for _ in range(5):
        budget.attempted()
        delay = budget.next_delay()
        delays.append(delay)
        if delay is None:
            break
    assert delays == [0.2, 0.4, None]
    assert budget.attempts == 3


def test_budget_stops_when_the_next_wait_would_outlast_the_time_budget() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=100, max_elapsed_s=5.0, base_delay_s=1.0, max_delay_s=4.0)
    budget = Budget(policy, clock=clock, rand=lambda: 1.0)
    budget.attempted()
    assert budget.next_delay() == 1.0
    clock.now += 2.5
    assert budget.next_delay() == 2.0  # 2.5 s left
    clock.now += 1.0
    assert budget.next_delay() is None  # the next wait (4 s) would outlast the 1.5 s left


def test_rate_limit_waits_spend_time_not_attempts() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=2, max_elapsed_s=10.0, base_delay_s=0.1)
    budget = Budget(policy, clock=clock, rand=lambda: 0.0)
    for _ in range(5):
        budget.attempted()
        assert budget.next_delay(retry_after=1.0) == 1.0
        clock.now += 1.0
    assert budget.failures == 0
    # Rate limited beyond what is left of the time budget: give up rather than wait.
    assert budget.next_delay(retry_after=30.0) is None
