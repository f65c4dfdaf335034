"""Backoff, caps, jitter and Retry-After."""

from __future__ import annotations

from coordinator.core import Jitter, RetryPolicy


def test_backoff_grows_by_the_multiplier_and_is_capped() -> None:
    policy = RetryPolicy(initial_interval_ms=200, multiplier=2, max_interval_ms=1000, jitter=Jitter.NONE)
    assert [policy.delay_for(n, seed="s") for n in range(1, 6)] == [200, 400, 800, 1000, 1000]


def test_full_jitter_stays_within_the_backoff_and_is_replayable() -> None:
    policy = RetryPolicy(initial_interval_ms=1000, multiplier=1, jitter=Jitter.FULL)
    delays = [policy.delay_for(1, seed=f"exec:{i}") for i in range(200)]
    assert all(0 <= d <= 1000 for d in delays)
    assert len(set(delays)) > 50  # spread, not lock-step
    assert delays == [policy.delay_for(1, seed=f"exec:{i}") for i in range(200)]


def test_equal_jitter_keeps_at_least_half() -> None:
    policy = RetryPolicy(initial_interval_ms=1000, multiplier=1, jitter=Jitter.EQUAL)
    assert all(500 <= policy.delay_for(1, seed=str(i)) <= 1000 for i in range(100))


def test_retry_after_replaces_the_backoff_but_not_the_cap() -> None:
    policy = RetryPolicy(initial_interval_ms=100, max_interval_ms=5000)
    assert policy.delay_for(1, seed="s", retry_after_ms=3000) == 3000
    assert policy.delay_for(1, seed="s", retry_after_ms=9000) == 5000
    assert policy.delay_for(1, seed="s", retry_after_ms=0) == 0


def test_allows_another_counts_the_first_attempt() -> None:
    policy = RetryPolicy(max_attempts=2)
    assert policy.allows_another(1) and not policy.allows_another(2)
