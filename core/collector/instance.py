"""Running one exchange instance: markets, symbols, budget plan, then streams, pollers and backfill."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.adapter import ExchangeAdapter, Subscription
from core.capabilities import Capabilities
from core.clock import Clock
from core.collector.backoff import Backoff
from core.collector.budget import BudgetPlan, plan_polling
from core.collector.klines import BackfillRequest, KlineSync
from core.collector.limiter import RateLimiter
from core.collector.metrics import InstanceMetrics, StreamCounters, ThrottledLog
from core.collector.polling import ChannelPoller
from core.collector.rest import RestGateway
from core.collector.sink import KlineKey, RecordSink
from core.collector.streaming import StreamCoverage, StreamState, StreamSupervisor
from core.config import CollectorConfig, InstanceConfig, SymbolRule
from core.errors import ConfigError, QuotewireError, UnknownSymbolError
from core.hookspecs import EventObserver
from core.intervals import Interval
from core.models import Channel, Market
from core.store import StoreReader, StoreWriter
from core.symbol_rules import resolve_symbols
from core.symbols import SymbolResolver

log = logging.getLogger(__name__)

LOAD_MARKETS_TIMEOUT = 30.0
STREAM_COUNTERS_EVERY = 1.0
"""Seconds between two reads of the adapter's stream counters into the instance's."""
_BULK_METHODS = {
    Channel.TICKER: "fetch_tickers",
    Channel.QUOTE: "fetch_quotes",
    Channel.PRICE: "fetch_prices",
}


def bulk_channels(adapter: type[ExchangeAdapter]) -> set[Channel]:
    """Channels whose adapter overrides the per-symbol default of the bulk fetch method."""
    return {
        channel
        for channel, method in _BULK_METHODS.items()
        if getattr(adapter, method) is not getattr(ExchangeAdapter, method)
    }


def select_symbols(instance: str, selection: list[str] | SymbolRule, markets: Sequence[Market]) -> list[str]:
    """Resolve the instance's symbols; name *every* unknown explicit symbol, with suggestions, at once."""
    if isinstance(selection, list):
        resolver = SymbolResolver(m.symbol for m in markets)
        unknown = [text for text in selection if not _known(resolver, text)]
        if unknown:
            parts = []
            for text in unknown:
                hints = resolver.suggest(text)
                parts.append(
                    f"{text} (did you mean {', '.join(hints)}?)" if hints else f"{text} (no close match)"
                )
            raise UnknownSymbolError(
                f"{instance}: the venue does not list {'; '.join(parts)}",
                symbol=unknown[0],
                suggestions=resolver.suggest(unknown[0]),
            )
    return resolve_symbols(selection, markets)


def _known(resolver: SymbolResolver, text: str) -> bool:
    try:
        resolver.resolve(text)
    except UnknownSymbolError:
        return False
    return True


def can_stream(adapter: type[ExchangeAdapter]) -> bool:
    """True when the adapter implements :meth:`ExchangeAdapter.stream`."""
    return adapter.stream is not ExchangeAdapter.stream


@dataclass
class _Running:
    """What one run of an instance set up, for the changes made while it runs (new listings)."""

    adapter: ExchangeAdapter
    caps: Capabilities
    depth_limit: int
    sink: RecordSink
    klines: KlineSync
    coverage: StreamCoverage
    kline_keys: list[KlineKey]
    """The series kept complete (a redis reset backfills them all)."""
    group: asyncio.TaskGroup


class InstanceRunner:
    """Collect one instance into the store until cancelled; :meth:`run` may be called again after a crash."""

    def __init__(
        self,
        config: InstanceConfig,
        adapter_class: type[ExchangeAdapter],
        writer: StoreWriter,
        *,
        observers: Sequence[EventObserver] = (),
        settings: CollectorConfig | None = None,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.instance = config.name
        self.adapter_class = adapter_class
        self.writer = writer
        self.observers = list(observers)
        self.settings = settings or CollectorConfig()
        self.clock = clock
        self.rng = rng or random.Random()
        self.metrics = InstanceMetrics(self.instance, writer)
        self.symbols: list[str] = []
        self.channels: list[Channel] = []
        self.intervals: list[Interval] = []
        self.streamed: set[Channel] = set()
        self.plan: BudgetPlan | None = None
        self.limiter: RateLimiter | None = None
        self.stream_state: StreamCoverage | None = None
        self.supervisors: list[StreamSupervisor] = []
        self.pollers: dict[Channel, ChannelPoller] = {}
        self.klines: KlineSync | None = None
        self.ready = asyncio.Event()
        self._warn = ThrottledLog(log, clock)
        self._run_id = 0

    def _backoff(self, base: float = 0.5, cap: float = 30.0) -> Backoff:
        return Backoff(base=base, cap=cap, rng=self.rng)

    async def run(self) -> None:
        """Open the adapter, set everything up and collect until cancelled."""
        self._run_id += 1
        run_id = self._run_id
        config = self.config
        async with self.adapter_class(config, clock=self.clock) as adapter:
            caps = adapter.capabilities
            limit = caps.rate_limit
            limiter = self.limiter = RateLimiter(
                None if limit is None else limit.limit * config.rate_limit_share,
                60.0 if limit is None else limit.window_seconds,
                self.clock,
            )
            gateway = RestGateway(adapter, limiter, self.metrics)
            adapter.rest_guard = gateway.call
            markets = await self._load_markets(gateway)
            caps = self._adopt_published_limit(adapter, limiter)
            self.symbols = select_symbols(self.instance, config.symbols, markets)
            if not self.symbols:
                raise ConfigError(f"{self.instance}: the symbol rule {config.symbols} selects no market")
            self._select(adapter)
            self._publish_markets(markets)
            depth_limit = caps.nearest_depth(config.depth_levels)
            plan = self.plan = self._plan(caps, depth_limit)
            for line in plan.describe(self.instance, self.streamed):
                log.log(logging.INFO if plan.fits else logging.WARNING, "%s", line)
            sink = RecordSink(
                self.instance,
                self.writer,
                self.observers,
                self.metrics,
                self.clock,
                utc_offset_ms=caps.utc_offset_ms,
            )
            klines = self.klines = KlineSync(
                adapter, gateway, sink, self.metrics, self.clock, history=config.kline_history
            )
            kline_keys: list[KlineKey] = (
                [(s, i) for s in self.symbols for i in self.intervals]
                if Channel.KLINE in self.channels
                else []
            )
            if kline_keys:
                async with StoreReader(self.writer.url, keys=self.writer.keys) as reader:
                    seeded = await klines.seed_from_store(reader, kline_keys)
                log.info("%s: %d of %d K-line series already stored", self.instance, seeded, len(kline_keys))
                klines.request(BackfillRequest("start", list(kline_keys), since=dict(sink.kline_cursor)))
                sink.on_kline_gap = lambda key, since: klines.request(
                    BackfillRequest("gap in stream", [key], since={key: since})
                )

                def on_reset() -> None:
                    if self._run_id == run_id:
                        klines.request(BackfillRequest("redis lost its data", list(kline_keys), full=True))

                self.writer.on_reset(on_reset)

            coverage = self.stream_state = StreamCoverage()
            self.supervisors = []
            async with asyncio.TaskGroup() as group:
                running = _Running(adapter, caps, depth_limit, sink, klines, coverage, kline_keys, group)
                self._stream(running, self.symbols)
                if self.streamed:
                    group.create_task(self._stream_counters(adapter), name=f"stream-counters:{self.instance}")
                for channel in plan.channels:
                    poller = self.pollers[channel] = ChannelPoller(
                        adapter,
                        plan.channels[channel],
                        gateway=gateway,
                        sink=sink,
                        klines=klines,
                        metrics=self.metrics,
                        clock=self.clock,
                        backoff=self._backoff(),
                        symbols=self.symbols,
                        intervals=self.intervals,
                        depth_limit=depth_limit,
                        stream=coverage if channel in self.streamed else None,
                    )
                    group.create_task(poller.run(), name=f"poll:{self.instance}:{channel.value}")
                if Channel.KLINE in self.channels:
                    group.create_task(klines.run_backfills(self._backoff()), name=f"backfill:{self.instance}")
                group.create_task(self._refresh_markets(gateway, running), name=f"markets:{self.instance}")
                self.ready.set()

    # ---- set-up ---------------------------------------------------------------------------------
    def _adopt_published_limit(self, adapter: ExchangeAdapter, limiter: RateLimiter) -> Capabilities:
        """Budget against the limit the venue published with its markets, if it differs from the
        documented default; return the capabilities to plan with."""
        caps = adapter.capabilities
        published = adapter.venue_rate_limit()
        if published is None or published == caps.rate_limit:
            return caps
        limiter.set_limit(published.limit * self.config.rate_limit_share, published.window_seconds)
        log.info(
            "%s: the venue publishes %s %s per %gs; budgeting %.0f%% of it",
            self.instance,
            f"{published.limit:,}",
            published.unit,
            published.window_seconds,
            self.config.rate_limit_share * 100,
        )
        return caps.model_copy(update={"rate_limit": published})

    async def _load_markets(self, gateway: RestGateway) -> list[Market]:
        """The venue's markets, through the limiter like every REST call (``markets`` weight)."""
        backoff = self._backoff(1.0, 60.0)
        while True:
            try:
                return await gateway.call(
                    "markets", gateway.adapter.load_markets, time_limit=LOAD_MARKETS_TIMEOUT
                )
            except QuotewireError as exc:
                self.metrics.incr("errors")
                delay = backoff.next()
                self._warn.warning(
                    "markets", "%s: loading markets failed (%r); retrying in %.1fs", self.instance, exc, delay
                )
                await self.clock.sleep(delay)

    def _select(self, adapter: ExchangeAdapter) -> None:
        caps, config = adapter.capabilities, self.config
        self.channels = [c for c in Channel if c in config.channels and c in caps.channels]
        skipped = [c.value for c in config.channels if c not in caps.channels]
        if skipped:
            log.warning("%s: the venue does not serve %s; skipped", self.instance, ", ".join(skipped))
        self.intervals = [i for i in config.intervals if i in caps.intervals]
        if len(self.intervals) < len(config.intervals):
            missing = [i.value for i in config.intervals if i not in caps.intervals]
            log.warning("%s: the venue has no %s K-lines; skipped", self.instance, ", ".join(missing))
        self.streamed = set()
        if config.transport != "rest" and can_stream(self.adapter_class):
            self.streamed = {c for c in self.channels if adapter.supports_stream(c)}
        if config.transport == "websocket" and set(self.channels) - self.streamed:
            rest = ", ".join(c.value for c in self.channels if c not in self.streamed)
            log.warning("%s: no websocket stream for %s; polling over REST", self.instance, rest)

    def _meta(self) -> dict[str, Any]:
        return {
            "plugin": self.config.plugin,
            "simulated": self.config.simulated,
            "channels": [c.value for c in self.channels],
            "intervals": [i.value for i in self.intervals],
            "symbols": self.symbols,
        }

    def _publish_markets(self, markets: Sequence[Market]) -> None:
        self.writer.put_markets(self.instance, markets, self._meta())
        for observer in self.observers:
            try:
                observer.on_markets(markets)
            except Exception as exc:
                log.warning(
                    "%s: observer %s failed on markets: %r", self.instance, type(observer).__name__, exc
                )

    def _plan(self, caps: Capabilities, depth_limit: int) -> BudgetPlan:
        config = self.config
        return plan_polling(
            caps,
            channels=self.channels,
            symbols=len(self.symbols),
            intervals=self.intervals,
            depth_limit=depth_limit,
            cadence=config.poll_interval,
            share=config.rate_limit_share,
            bulk_channels=bulk_channels(self.adapter_class),
        )

    async def _stream_counters(self, adapter: ExchangeAdapter) -> None:
        """Add what the adapter's stream counters grew by to the instance's every
        :data:`STREAM_COUNTERS_EVERY` seconds, and once more when cancelled."""
        counters = StreamCounters(self.instance, adapter.stream_counters, self.metrics)
        next_at = self.clock.monotonic()
        try:
            while True:
                next_at += STREAM_COUNTERS_EVERY
                await self.clock.sleep(max(0.0, next_at - self.clock.monotonic()))
                counters.sync()
        finally:
            counters.sync()

    async def _refresh_markets(self, gateway: RestGateway, running: _Running) -> None:
        next_at = self.clock.monotonic()
        while True:
            next_at += self.settings.markets_refresh
            await self.clock.sleep(max(0.0, next_at - self.clock.monotonic()))
            try:
                markets = await gateway.call(
                    "markets", gateway.adapter.load_markets, time_limit=LOAD_MARKETS_TIMEOUT
                )
            except QuotewireError as exc:
                self.metrics.incr("errors")
                self._warn.warning("markets", "%s: reloading markets failed: %r", self.instance, exc)
                continue
            if isinstance(self.config.symbols, SymbolRule):
                self._follow_rule(self.config.symbols, markets, running)
            self._publish_markets(markets)

    def _follow_rule(self, rule: SymbolRule, markets: Sequence[Market], running: _Running) -> None:
        """Resolve the rule against reloaded markets: new listings join (streams, polling, K-line
        history), symbols it no longer selects (delisted, halted) stop being polled."""
        selected = resolve_symbols(rule, markets)
        if not selected:
            log.warning(
                "%s: the symbol rule %s selects no market now; keeping the current symbols",
                self.instance,
                rule,
            )
            return
        chosen, current = set(selected), set(self.symbols)
        added = [s for s in selected if s not in current]
        removed = [s for s in self.symbols if s not in chosen]
        if not added and not removed:
            return
        log.info(
            "%s: the symbol rule now selects %d symbols: %d new (%s), %d gone (%s)",
            self.instance,
            len(selected),
            len(added),
            ", ".join(added[:10]) + (" …" if len(added) > 10 else ""),
            len(removed),
            ", ".join(removed[:10]) + (" …" if len(removed) > 10 else ""),
        )
        self.symbols = [s for s in self.symbols if s in chosen] + added
        running.kline_keys[:] = [key for key in running.kline_keys if key[0] in chosen]
        plan = self.plan = self._plan(running.caps, running.depth_limit)
        if not plan.fits:
            for line in plan.describe(self.instance, self.streamed):
                log.warning("%s", line)
        for channel, poller in self.pollers.items():
            poller.follow(self.symbols, plan.channels[channel])
        if not added:
            return
        if Channel.KLINE in self.channels:
            keys = [(s, i) for s in added for i in self.intervals]
            running.kline_keys += keys
            running.klines.request(BackfillRequest("new listings", keys))
        self._stream(running, added)

    def _stream(self, running: _Running, symbols: Sequence[str]) -> None:
        """Stream ``symbols``: one supervisor per shard, each with its own state and K-line backfill."""
        covered = running.coverage.symbols()  # a symbol the rule drops and selects again keeps its shard
        symbols = [s for s in symbols if s not in covered]
        if not self.streamed or not symbols:
            return
        subscriptions = [
            Subscription(channel, symbol, interval)
            for symbol in symbols
            for channel in self.channels
            if channel in self.streamed
            for interval in (self.intervals if channel is Channel.KLINE else [None])
        ]
        shards = running.adapter.stream_shards(subscriptions)
        known = len(self.supervisors)
        if len(shards) > 1 or known:
            log.info("%s: %d subscriptions in %d shards", self.instance, len(subscriptions), len(shards))
        wanted = set(running.kline_keys) if Channel.KLINE in self.streamed else set()
        for n, subs in enumerate(shards, start=1):
            label = f"shard {n}/{len(shards)}" if not known else f"shard {known + n}"
            supervisor = self._supervisor(
                running.adapter,
                subs,
                sink=running.sink,
                state=running.coverage.add({sub.symbol for sub in subs}),
                klines=running.klines,
                streamed_klines=[
                    (sub.symbol, sub.interval)
                    for sub in subs
                    if sub.interval is not None and (sub.symbol, sub.interval) in wanted
                ],
                label="" if len(shards) == 1 and not known else label,
            )
            self.supervisors.append(supervisor)
            running.group.create_task(supervisor.run(), name=f"stream:{supervisor.name}")

    def _supervisor(
        self,
        adapter: ExchangeAdapter,
        subscriptions: list[Subscription],
        *,
        sink: RecordSink,
        state: StreamState,
        klines: KlineSync,
        streamed_klines: list[KlineKey],
        label: str,
    ) -> StreamSupervisor:
        """The supervisor of one shard (``label`` names it when there are several): on its return,
        backfill its own K-line series from where each stood when it went down."""
        since_down: dict[KlineKey, int] = {}

        def on_down() -> None:
            since_down.clear()
            since_down.update({k: v for k in streamed_klines if (v := sink.kline_cursor.get(k)) is not None})

        def on_up(reconnect: bool) -> None:
            if reconnect and streamed_klines:
                reason = f"stream {label} reconnected" if label else "stream reconnected"
                request = BackfillRequest(reason, streamed_klines, since=dict(since_down))
                klines.request(request)

        return StreamSupervisor(
            adapter,
            subscriptions,
            sink=sink,
            state=state,
            metrics=self.metrics,
            clock=self.clock,
            backoff=Backoff(base=0.5, cap=30.0, rng=self.rng),
            stall_timeout=self.settings.stall_timeout,
            on_down=on_down,
            on_up=on_up,
            name=f"{self.instance} {label}" if label else self.instance,
        )
