"""The collector's sink: opportunity changes go to Redis through the store writer."""

from __future__ import annotations

from collections.abc import Sequence

from core.arbitrage.models import Opportunity
from core.clock import SYSTEM_CLOCK, Clock
from core.store import RankedItem, StoreWriter


class RedisOpportunitySink:
    """Queues each batch of changes on the collector's :class:`StoreWriter` (never blocks).

    The writer ranks opportunities by net return, keeps each document for ``arbitrage_ttl`` after its
    last change, and publishes every change (conflated per id and flush) on the instance's events.
    """

    def __init__(self, writer: StoreWriter, clock: Clock = SYSTEM_CLOCK) -> None:
        self.writer = writer
        self._clock = clock

    def publish(self, instance: str, changed: Sequence[Opportunity], closed: Sequence[str]) -> None:
        """Hand one batch of changes to the writer, stamped with the time of the change."""
        ranked = [RankedItem(o.id, float(o.net_return), o) for o in changed]
        self.writer.put_opportunities(instance, ranked, closed, self._clock.now_ms())
