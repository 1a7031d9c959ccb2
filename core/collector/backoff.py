"""Capped exponential backoff with jitter, from an injectable random source."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays for consecutive failures: ``base * 2**(n-1)`` capped at ``cap``, with "equal jitter".

    The n-th delay lies in ``[d/2, d]`` for its nominal ``d``, so delays still grow while retries of
    many instances spread out. :meth:`reset` after a success starts again from ``base``.
    """

    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def nominal(self, failures: int) -> float:
        """The delay before jitter after ``failures`` consecutive failures (0 for none)."""
        if failures <= 0:
            return 0.0
        return min(self.cap, self.base * 2.0 ** min(failures - 1, 62))

    def next(self) -> float:
        """Count one more failure and return how long to wait before retrying."""
        self.failures += 1
        delay = self.nominal(self.failures)
        return delay / 2 + self.rng.random() * delay / 2

    def reset(self) -> None:
        """Forget the failures (after a success)."""
        self.failures = 0
