"""Where opportunities go: a small callback protocol and an in-memory implementation."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Literal, Protocol

from core.arbitrage.models import Opportunity


class OpportunitySink(Protocol):
    """Receives the changes of one instance's opportunities after each batch of records.

    ``changed`` are opportunities that opened or whose figures changed (latest state each);
    ``closed`` are ids of opportunities that are no longer there. Called synchronously from the
    collector's loop: it must not block (a Redis sink queues and writes from its own task).
    """

    def publish(self, instance: str, changed: Sequence[Opportunity], closed: Sequence[str]) -> None:
        """Take one batch of changes."""


Event = tuple[Literal["open", "close"], str, Opportunity | None]


class MemorySink:
    """Keeps the current opportunities of each instance and a bounded log of recent events."""

    def __init__(self, history: int = 1000) -> None:
        self.current: dict[str, dict[str, Opportunity]] = {}
        self.events: deque[Event] = deque(maxlen=history)

    def publish(self, instance: str, changed: Sequence[Opportunity], closed: Sequence[str]) -> None:
        """Apply a batch of changes."""
        current = self.current.setdefault(instance, {})
        for opportunity in changed:
            current[opportunity.id] = opportunity
            self.events.append(("open", opportunity.id, opportunity))
        for key in closed:
            if current.pop(key, None) is not None:
                self.events.append(("close", key, None))

    def opportunities(self, instance: str) -> list[Opportunity]:
        """The instance's current opportunities, best net return first."""
        found = self.current.get(instance, {}).values()
        return sorted(found, key=lambda o: (-o.net_return, o.id))
