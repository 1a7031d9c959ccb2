"""The one store subscription of the process, fanned out to every websocket client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from api.metrics import ApiMetrics
from api.push.client import PushClient
from api.push.topics import Topic, topic_of
from core.errors import StorageError
from core.store import StoreReader

log = logging.getLogger(__name__)


class Hub:
    """Routes each published record to the clients subscribed to its topic."""

    def __init__(self, reader: StoreReader, metrics: ApiMetrics, *, retry_delay: float = 1.0) -> None:
        self._reader = reader
        self._metrics = metrics
        self._retry_delay = retry_delay
        self._subscribers: dict[Topic, set[PushClient]] = {}
        self._clients: set[PushClient] = set()
        self.subscribed = asyncio.Event()

    @property
    def client_count(self) -> int:
        return len(self._clients)

    async def run(self) -> None:
        """Consume store events until cancelled, resubscribing after a Redis outage."""
        while True:
            try:
                async for instance, records in self._reader.events(on_subscribed=self.subscribed.set):
                    self.dispatch(instance, records)
            except StorageError as exc:
                self.subscribed.clear()
                log.warning("push: store events lost (%s); resubscribing in %.1fs", exc, self._retry_delay)
                await asyncio.sleep(self._retry_delay)

    def dispatch(self, instance: str, records: Iterable[dict[str, Any]]) -> None:
        """Offer every record to its topic's subscribers; drop clients that overflow."""
        self._metrics.events.inc()
        dead: list[PushClient] = []
        for record in records:
            topic = topic_of(instance, record)
            clients = self._subscribers.get(topic)
            if not clients:
                continue
            for client in clients:
                if not client.offer(topic, record):
                    dead.append(client)
        for client in dead:
            if client in self._clients:
                self._metrics.push_disconnects.labels("slow_consumer").inc()
                self.detach(client)

    def attach(self, client: PushClient) -> None:
        self._clients.add(client)
        self._metrics.push_clients.set(len(self._clients))

    def detach(self, client: PushClient) -> None:
        """Forget a client and all its topics."""
        self.unsubscribe(client, list(client.topics))
        self._clients.discard(client)
        self._metrics.push_clients.set(len(self._clients))

    def subscribe(self, client: PushClient, topics: Iterable[Topic]) -> None:
        for topic in topics:
            self._subscribers.setdefault(topic, set()).add(client)
            client.topics.add(topic)

    def unsubscribe(self, client: PushClient, topics: Iterable[Topic]) -> None:
        for topic in topics:
            clients = self._subscribers.get(topic)
            if clients is not None:
                clients.discard(client)
                if not clients:
                    del self._subscribers[topic]
            client.topics.discard(topic)
