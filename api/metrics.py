"""Prometheus metrics of one API process, on a private registry (no import-time globals)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class CollectorCounters(Collector):
    """The collectors' counters of every instance (their stats hashes in Redis), as read before the
    latest scrape: ``quotewire_collector_total{instance, counter}``."""

    def __init__(self) -> None:
        self.counts: Mapping[str, Mapping[str, int]] = {}
        """Instance → counter → value; replaced as a whole by the ``/metrics`` route."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "quotewire_collector",
            "collector counters of each instance (reconnects, resyncs, rest_weight, malformed, ...; "
            "core.collector.metrics.COUNTER_DOCS says what each counts), from its stats hash in Redis",
            labels=("instance", "counter"),
        )
        for instance, counts in sorted(self.counts.items()):
            for name, value in sorted(counts.items()):
                family.add_metric((instance, name), value)
        yield family


class StoreCounters(Collector):
    """The store writers' own counters (their ``qw:v1:store-stats`` hash), as read before the latest
    scrape: ``quotewire_store_total{counter}``."""

    def __init__(self) -> None:
        self.counts: Mapping[str, int] = {}
        """Counter → value; replaced as a whole by the ``/metrics`` route."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "quotewire_store",
            "store writers' counters (dropped, refused, failed_flushes, unanswered_flushes, slow_flushes, "
            "resets; core.store.writer.STORE_COUNTER_DOCS says what each counts), summed over the "
            "processes that write, from Redis",
            labels=("counter",),
        )
        for name, value in sorted(self.counts.items()):
            family.add_metric((name,), value)
        yield family


class ApiMetrics:
    """Request counts and latency per route, push clients, push message outcomes, the collectors'
    counters (:class:`CollectorCounters`) and the store writers' (:class:`StoreCounters`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "quotewire_api_requests",
            "HTTP requests by route template, method and status",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "quotewire_api_request_seconds",
            "HTTP request latency by route template",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.push_clients = Gauge(
            "quotewire_api_push_clients", "connected websocket clients", registry=self.registry
        )
        self.push_messages = Counter(
            "quotewire_api_push_messages",
            "updates handed to websocket clients by outcome (sent, conflated, dropped)",
            ("outcome",),
            registry=self.registry,
        )
        self.push_frames = Counter(
            "quotewire_api_push_frames", "websocket frames sent", registry=self.registry
        )
        self.push_disconnects = Counter(
            "quotewire_api_push_disconnects",
            "websocket clients closed by the server, by reason",
            ("reason",),
            registry=self.registry,
        )
        self.events = Counter(
            "quotewire_api_push_events", "store event batches received", registry=self.registry
        )
        self.collector = CollectorCounters()
        self.registry.register(self.collector)
        self.store = StoreCounters()
        self.registry.register(self.store)
