"""Exponential backoff with jitter for failed deliveries."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from driftmon.alerting.backoff import Backoff
from driftmon.config import BackoffConfig


def test_without_jitter_delays_double_up_to_the_cap() -> None:
    """With no jitter the delays are initial × 2^(n−1), never above the maximum."""
    backoff = Backoff(initial=1.0, maximum=10.0, multiplier=2.0, jitter=0.0)
    rng = random.Random(1)
    assert [backoff.delay(n, rng) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_huge_attempt_numbers_stay_finite() -> None:
    """An endpoint down for days does not overflow the exponent."""
    assert Backoff(maximum=300.0).ceiling(10_000) == 300.0


def test_jitter_spreads_retries() -> None:
    """Two daemons with different random streams do not retry at the same instant."""
    backoff = Backoff(initial=8.0, maximum=100.0, jitter=0.5)
    assert backoff.delay(3, random.Random(1)) != backoff.delay(3, random.Random(2))


@given(
    attempt=st.integers(min_value=1, max_value=200),
    jitter=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_jittered_delay_lies_within_its_band(attempt: int, jitter: float, seed: int) -> None:
    """Every delay is in (ceiling × (1 − jitter), ceiling] and never negative."""
    backoff = Backoff(initial=0.5, maximum=60.0, multiplier=2.0, jitter=jitter)
    ceiling = backoff.ceiling(attempt)
    delay = backoff.delay(attempt, random.Random(seed))
    assert ceiling * (1 - jitter) <= delay <= ceiling
    assert delay >= 0.0


def test_built_from_configuration() -> None:
    """The `alerting.backoff` section maps field by field."""
    config = BackoffConfig(initial="2s", max="1m", multiplier=3.0, jitter=0.25)
    assert Backoff.from_config(config) == Backoff(2.0, 60.0, 3.0, 0.25)
