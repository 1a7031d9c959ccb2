"""The collector process: one store writer, one supervised runner per enabled instance."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping

from core.clock import SYSTEM_CLOCK, Clock
from core.collector.backoff import Backoff
from core.collector.instance import InstanceRunner
from core.config import AppConfig
from core.errors import ConfigError, PluginError, UnknownSymbolError
from core.plugins import PluginHost
from core.store import StoreWriter

log = logging.getLogger(__name__)

FATAL = (ConfigError, PluginError, UnknownSymbolError)
"""Errors that stop the collector: restarting cannot fix a wrong configuration."""


class Collector:
    """Run every enabled instance of ``config`` into Redis until cancelled."""

    def __init__(
        self,
        config: AppConfig,
        host: PluginHost,
        *,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.host = host
        self.clock = clock
        self.rng = rng or random.Random()
        settings = config.collector
        self.writer = StoreWriter(
            config.redis_url,
            flush_interval=settings.flush_interval_ms / 1000,
            max_buffered=settings.max_buffered,
        )
        self.runners: dict[str, InstanceRunner] = {}
        for instance in config.enabled:
            self.runners[instance.name] = InstanceRunner(
                instance,
                host.adapter(instance.plugin),
                self.writer,
                observers=host.observers(instance.name, instance.plugin, instance, self.writer),
                settings=settings,
                clock=clock,
                rng=self.rng,
            )

    def metrics(self) -> Mapping[str, Mapping[str, int]]:
        """Counters per instance, for a metrics endpoint."""
        return {name: runner.metrics.snapshot() for name, runner in self.runners.items()}

    async def run(self) -> None:
        """Collect until cancelled; the writer flushes once more and adapters close on the way out."""
        if not self.runners:
            raise ConfigError("no enabled exchange instance to collect")
        async with self.writer, asyncio.TaskGroup() as group:
            for name, runner in self.runners.items():
                group.create_task(self._supervise(runner), name=f"instance:{name}")
        log.info("collector stopped")

    async def _supervise(self, runner: InstanceRunner) -> None:
        """Restart a crashed instance with backoff; let configuration errors stop the process."""
        backoff = Backoff(base=1.0, cap=60.0, rng=self.rng)
        while True:
            try:
                await runner.run()
                raise RuntimeError("the instance runner returned")
            except FATAL:
                raise
            except Exception:
                runner.metrics.incr("errors")
                delay = backoff.next()
                log.exception("%s: instance crashed; restarting in %.1fs", runner.instance, delay)
                await self.clock.sleep(delay)
