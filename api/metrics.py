"""Prometheus metrics of one API process, on a private registry (no import-time globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ApiMetrics:
    """Request counts and latency per route, push clients, and push message outcomes."""

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
