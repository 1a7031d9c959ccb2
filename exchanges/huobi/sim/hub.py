"""Turns engine events into HTX topic frames and fans them out to subscribed sessions.

Events only mark markets dirty; :meth:`Hub.on_batch` renders each subscribed topic of a dirty market
once per batch (gzip once, shared by every subscriber), so a busy market is conflated to one frame
per topic per batch. ``trade.detail`` is the exception: every taker order is its own frame.

The incremental ``mbp.$levels`` feed keeps one :class:`MbpView` per symbol and size: the last
published top-N levels and its ``seqNum``. A push carries the changed levels (amount 0 = removed)
with ``prevSeqNum`` = the previous push's ``seqNum``; a ``req`` snapshot is the view's state at its
``seqNum``, so the chain always links.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core.sim import Candle, DepthDiff, MarketListener, MarketState, Trade
from exchanges.huobi.sim import codec
from exchanges.huobi.sim.context import VenueContext
from exchanges.huobi.sim.session import Session, gz
from exchanges.huobi.sim.topics import Topic

REFRESH_KINDS = ("depth", "bbo", "detail", "ticker", "kline", "mbp.refresh")


@dataclass(slots=True)
class MbpView:
    """The last published top-N book of one symbol on the ``mbp`` feed."""

    levels: int
    seq: int
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        """The ``req`` reply body: ``{"seqNum", "bids", "asks"}`` best first."""
        return {
            "seqNum": self.seq,
            "bids": codec.levels(sorted(self.bids.items(), reverse=True)),
            "asks": codec.levels(sorted(self.asks.items())),
        }


def _diff(old: dict[int, int], new: dict[int, int]) -> list[tuple[int, int]]:
    changed = [(p, q) for p, q in new.items() if old.get(p) != q]
    changed.extend((p, 0) for p in old if p not in new)
    return changed


class Hub(MarketListener):
    """Subscriptions by topic, and the frames engine events produce for them."""

    def __init__(self, ctx: VenueContext) -> None:
        self.ctx = ctx
        self.subscribers: dict[str, set[Session]] = defaultdict(set)
        self.topics: dict[str, Topic] = {}
        self.by_symbol: dict[str, set[str]] = defaultdict(set)
        self.views: dict[tuple[str, int], MbpView] = {}
        self._dirty_book: set[str] = set()
        self._dirty_stats: set[str] = set()
        self._dirty_best: set[str] = set()
        self._dirty_candles: set[str] = set()

    # ---- subscriptions ------------------------------------------------------------------------
    def subscribe(self, session: Session, topic: Topic) -> None:
        """Add ``session`` to ``topic`` and send it the current state of snapshot topics."""
        self.subscribers[topic.name].add(session)
        self.topics[topic.name] = topic
        self.by_symbol[topic.symbol].add(topic.name)
        session.topics.add(topic.name)
        market = self.ctx.market(topic.symbol)
        assert market is not None
        if topic.kind == "mbp":
            self.view(market, topic.levels)
        elif topic.kind in REFRESH_KINDS:
            payload = self.render(market, topic, self.ctx.clock.now_ms())
            if payload is not None:
                session.data(gz(payload))

    def unsubscribe(self, session: Session, name: str) -> bool:
        """Remove ``session`` from topic ``name``; False when it was not subscribed."""
        if name not in session.topics:
            return False
        session.topics.discard(name)
        self.subscribers[name].discard(session)
        return True

    def drop(self, session: Session) -> None:
        """Forget a closed session."""
        for name in session.topics:
            self.subscribers[name].discard(session)
        session.topics.clear()

    def view(self, market: MarketState, levels: int) -> MbpView:
        """The ``mbp`` view of ``market`` at ``levels``, created at the current book."""
        key = (market.symbol, levels)
        found = self.views.get(key)
        if found is None:
            snap = market.book.snapshot(market.update_id, levels)
            found = MbpView(levels, market.update_id, dict(snap.bids), dict(snap.asks))
            self.views[key] = found
        return found

    # ---- engine events ------------------------------------------------------------------------
    def on_trades(self, market: MarketState, trades: Sequence[Trade]) -> None:
        name = f"market.{codec.native(market.spec)}.trade.detail"
        sessions = self.subscribers.get(name)
        if sessions:
            tick = codec.trade_tick(trades, ws=True)
            frame = gz({"ch": name, "ts": trades[-1].time_ms, "tick": tick})
            for session in list(sessions):
                session.data(frame)

    def on_depth(self, market: MarketState, diff: DepthDiff) -> None:
        self._dirty_book.add(market.symbol)

    def on_candles(self, market: MarketState, closed: Sequence[Candle], time_ms: int) -> None:
        self._dirty_candles.add(market.symbol)

    def on_ticker(self, market: MarketState, time_ms: int) -> None:
        self._dirty_stats.add(market.symbol)

    def on_best(self, market: MarketState, time_ms: int) -> None:
        self._dirty_best.add(market.symbol)

    def on_batch(self, time_ms: int) -> None:
        markets = self.ctx.engine.markets
        dirty = self._dirty_book | self._dirty_stats | self._dirty_best | self._dirty_candles
        for symbol in dirty:
            market = markets[symbol]
            native = codec.native(market.spec)
            for levels in (5, 20, 150, 400):
                if (symbol, levels) in self.views and symbol in self._dirty_book:
                    self._push_mbp(market, levels, time_ms)
            for name in self.by_symbol.get(native, ()):
                topic = self.topics[name]
                if not self._changed(symbol, topic.kind) or not self.subscribers.get(name):
                    continue
                payload = self.render(market, topic, time_ms)
                if payload is not None:
                    frame = gz(payload)
                    for session in list(self.subscribers[name]):
                        session.data(frame)
        self._dirty_book.clear()
        self._dirty_stats.clear()
        self._dirty_best.clear()
        self._dirty_candles.clear()

    def _changed(self, symbol: str, kind: str) -> bool:
        if kind in ("depth", "mbp.refresh"):
            return symbol in self._dirty_book
        if kind == "bbo":
            return symbol in self._dirty_best
        if kind in ("detail", "ticker"):
            return symbol in self._dirty_stats
        if kind == "kline":
            return symbol in self._dirty_candles
        return False

    def _push_mbp(self, market: MarketState, levels: int, time_ms: int) -> None:
        view = self.views[(market.symbol, levels)]
        snap = market.book.snapshot(market.update_id, levels)
        bids, asks = dict(snap.bids), dict(snap.asks)
        bid_changes, ask_changes = _diff(view.bids, bids), _diff(view.asks, asks)
        if not bid_changes and not ask_changes:
            return
        name = f"market.{codec.native(market.spec)}.mbp.{levels}"
        tick = {
            "seqNum": market.update_id,
            "prevSeqNum": view.seq,
            "bids": codec.levels(sorted(bid_changes, reverse=True)),
            "asks": codec.levels(sorted(ask_changes)),
        }
        view.seq, view.bids, view.asks = market.update_id, bids, asks
        sessions = self.subscribers.get(name)
        if sessions:
            frame = gz({"ch": name, "ts": time_ms, "tick": tick})
            for session in list(sessions):
                session.data(frame, mbp=True)

    # ---- rendering ----------------------------------------------------------------------------
    def render(self, market: MarketState, topic: Topic, now: int) -> dict[str, Any] | None:
        """The push message of a snapshot-style topic at ``now`` (None for event topics)."""
        engine = self.ctx.engine
        tick: dict[str, Any]
        if topic.kind == "depth":
            tick = codec.depth_tick(market.book.snapshot(market.update_id, 150), now)
        elif topic.kind == "mbp.refresh":
            snap = market.book.snapshot(market.update_id, topic.levels)
            tick = {
                "seqNum": market.update_id,
                "bids": codec.levels(snap.bids),
                "asks": codec.levels(snap.asks),
            }
        elif topic.kind == "bbo":
            tick = codec.bbo_tick(market, now)
        elif topic.kind == "detail":
            tick = codec.detail_tick(market, engine.stats(market, now))
        elif topic.kind == "ticker":
            tick = codec.ws_ticker_tick(market, engine.stats(market, now))
        elif topic.kind == "kline":
            tick = codec.kline_tick(engine.candle(market, codec.PERIODS[topic.period], now))
        else:
            return None
        return {"ch": topic.name, "ts": now, "tick": tick}
