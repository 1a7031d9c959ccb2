"""The ``huobi`` adapter (HTX spot, ccxt id ``htx``) — *legacy*: kept for existing deployments,
fully supported.

Markets, tickers, quotes, prices, depth and trades go through the generic ccxt base, with ccxt's
JSON numbers kept as their literal text; K-lines use HTX's own ``/market/history/candles`` (ccxt's
rows drop the trade count and quote volume). Streams are HTX's gzip websockets
(:mod:`exchanges.huobi.streams`). HTX aligns 1day/1week/1mon candles to UTC+8.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar

from core.adapter import Subscription
from core.capabilities import Capabilities, RateLimit
from core.ccxt_adapter import CcxtAdapter
from core.clock import SYSTEM_CLOCK, Clock
from core.config import InstanceConfig
from core.errors import NotSupportedError
from core.intervals import ALL_INTERVALS, Interval
from core.models import ALL_CHANNELS, Channel, Kline, Record
from exchanges.huobi import parsers
from exchanges.huobi.codec import loads_text
from exchanges.huobi.streams import StreamPlan, StreamStats, mbp_levels, run_streams

WS_URL = "wss://api.huobi.pro/ws"
HEARTBEAT_TIMEOUT = 12.0
"""HTX pings every 5 s and drops a client after 2 missed pongs; no ping for 12 s means it is gone."""


class HuobiAdapter(CcxtAdapter):
    """HTX spot through ccxt ``htx`` (REST) and HTX's websockets (streams)."""

    plugin_name = "huobi"
    legacy = True
    ccxt_id = "htx"
    ccxt_options: ClassVar[Mapping[str, Any]] = {
        "fetchMarkets": {"types": {"spot": True, "linear": False, "inverse": False}},
    }
    capabilities = Capabilities(
        channels=frozenset(ALL_CHANNELS),
        stream_channels=frozenset(ALL_CHANNELS),
        intervals=ALL_INTERVALS,
        depth_levels=(5, 10, 20, 150),
        max_klines_per_request=1000,
        max_trades_per_request=2000,
        rate_limit=RateLimit(unit="requests", limit=100, window_seconds=10.0),
        utc_offset_ms=parsers.UTC8_MS,
    )

    def __init__(self, config: InstanceConfig, *, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(config, clock=clock)
        self.stream_stats = StreamStats()

    async def open(self) -> None:
        """Create ccxt ``htx`` with its numbers parsed as exact text."""
        await super().open()
        self.exchange.on_json_response = loads_text

    # ---- REST ---------------------------------------------------------------------------------
    async def fetch_klines(
        self, symbol: str, interval: Interval, *, start_ms: int | None = None, limit: int = 500
    ) -> list[Kline]:
        """``/market/history/candles`` (``from`` in seconds, at most 1000 per call), oldest first."""
        market = (await self.ensure_markets()).get(symbol) or self.market(symbol)
        request: dict[str, Any] = {
            "symbol": market.native_id,
            "period": parsers.PERIODS[interval],
            "size": max(1, min(limit, self.capabilities.max_klines_per_request)),
        }
        if start_ms is not None:
            request["from"] = start_ms // 1000 + (1 if start_ms % 1000 else 0)
        raw = await self.call(self.exchange.spotPublicGetMarketHistoryCandles, request)
        payload = parsers.check(raw, self.instance, symbol)
        return parsers.klines(
            payload,
            instance=self.instance,
            symbol=symbol,
            interval=interval,
            receive_time=self.clock.now_ms(),
        )

    # ---- streams ------------------------------------------------------------------------------
    def stream(self, subscriptions: Sequence[Subscription]) -> AsyncIterator[Sequence[Record]]:
        """Batches from ``/ws`` (and ``/feed`` for depth) until a connection ends."""
        return self._stream(subscriptions)

    async def _stream(self, subscriptions: Sequence[Subscription]) -> AsyncIterator[Sequence[Record]]:
        markets = await self.ensure_markets()
        topics: list[str] = []
        mbp: list[str] = []
        depth = self.config.depth_levels
        for sub in subscriptions:
            native = (markets.get(sub.symbol) or self.market(sub.symbol)).native_id
            for topic in self._topics(sub, native, depth):
                target = mbp if ".mbp." in topic else topics
                if topic not in target:
                    target.append(topic)
        ws_url = self.config.urls.websocket or WS_URL
        plan = StreamPlan(
            instance=self.instance,
            ws_url=ws_url,
            feed_url=self.config.urls.extra.get("feed") or _feed_url(ws_url),
            topics=topics,
            mbp_topics=mbp,
            unified={m.native_id: m.symbol for m in markets.values()},
            depth=depth,
            heartbeat_timeout=float(self.config.options.get("heartbeat_timeout", HEARTBEAT_TIMEOUT)),
            clock_ms=self.clock.now_ms,
        )
        async for batch in run_streams(plan, self.stream_stats):
            yield batch

    def stream_counters(self) -> Mapping[str, int]:
        """The totals of :attr:`stream_stats`: books resynced after a ``seqNum`` gap, frames skipped."""
        stats = self.stream_stats
        return {"resyncs": sum(stats.resyncs.values()), "malformed": stats.malformed}

    @staticmethod
    def _topics(sub: Subscription, native: str, depth: int) -> list[str]:
        base = f"market.{native}"
        channel = sub.channel
        if channel is Channel.TICKER:
            return [f"{base}.detail"]
        if channel is Channel.QUOTE:
            return [f"{base}.bbo"]
        if channel in (Channel.PRICE, Channel.TRADES):
            return [f"{base}.trade.detail"]
        if channel is Channel.DEPTH:
            return [f"{base}.mbp.{mbp_levels(depth)}"]
        if channel is Channel.KLINE:
            if sub.interval is None:
                raise NotSupportedError("a kline subscription needs an interval")
            return [f"{base}.kline.{parsers.PERIODS[sub.interval]}"]
        raise NotSupportedError(f"huobi: no stream for channel {channel}")


def _feed_url(ws_url: str) -> str:
    """``…/ws`` → ``…/feed`` (HTX serves the incremental book on ``/feed``)."""
    root = ws_url.rstrip("/")
    return (root[: -len("/ws")] if root.endswith("/ws") else root) + "/feed"
