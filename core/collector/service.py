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
from core.logs import LOG_INSTANCE
from core.plugins import PluginHost
from core.store import StoreWriter

log = logging.getLogger(__name__)

STOP_RETRY_S = 0.5
"""Seconds between two cancellations of an instance runner that has not stopped yet."""

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
        """Restart a crashed instance with backoff; let configuration errors stop the process.

        The runner runs as a task of its own: on Python 3.11 a task group cancelled from outside
        while one of its tasks fails on the way out raises that failure and drops the cancellation,
        and a collector told to stop would take it for a crash and restart the instance, forever.
        A runner that is still running after a cancellation is cancelled again every
        :data:`STOP_RETRY_S` (a cancellation that met a finishing await can be lost on 3.11: a test
        stopping the collector during its start-up hung once in a few full runs).
        """
        LOG_INSTANCE.set(runner.instance)  # this task's context: the instance's tasks inherit it
        backoff = Backoff(base=1.0, cap=60.0, rng=self.rng)
        while True:
            run = asyncio.create_task(runner.run(), name=f"instance-run:{runner.instance}")
            try:
                await asyncio.wait((run,))
            finally:  # cancelled: stop the runner, and let what it raises on the way out go
                while not run.done():
                    run.cancel()  # again and again: a cancellation can be lost on 3.11 (see above)
                    await asyncio.wait((run,), timeout=STOP_RETRY_S)
                if not run.cancelled():
                    run.exception()  # taken, so what it raised on the way out is not reported unseen
            error = None if run.cancelled() else run.exception()
            if isinstance(error, FATAL):
                raise error
            runner.metrics.incr("errors")
            delay = backoff.next()
            log.error(
                "%s: instance crashed; restarting in %.1fs",
                runner.instance,
                delay,
                exc_info=error or RuntimeError("the instance runner returned"),
            )
            await self.clock.sleep(delay)
