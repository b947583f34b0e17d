"""Retry delays: exponential, capped, with jitter drawn from an injected RNG (pure)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # config imports this package to gather the receiver kinds
    from driftmon.config import BackoffConfig

_MAX_EXPONENT = 60  # beyond this every delay is capped anyway; keeps the power finite


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retry number `attempt` (1 = after the first failure).

    ``min(maximum, initial × multiplier^(attempt−1))``, shortened by up to `jitter` of itself
    so that several daemons retrying one receiver spread out instead of arriving together.
    """

    initial: float = 1.0
    maximum: float = 300.0
    multiplier: float = 2.0
    jitter: float = 0.5

    @classmethod
    def from_config(cls, config: BackoffConfig) -> Backoff:
        """The backoff described by an `alerting.backoff` configuration section."""
        return cls(config.initial, config.max, config.multiplier, config.jitter)

    def ceiling(self, attempt: int) -> float:
        """The delay for `attempt` before jitter."""
        exponent = min(max(attempt - 1, 0), _MAX_EXPONENT)
        return min(self.maximum, self.initial * self.multiplier**exponent)

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The jittered delay for `attempt`: in ``(ceiling × (1 − jitter), ceiling]``."""
        return self.ceiling(attempt) * (1.0 - self.jitter * rng.random())
