"""The websocket protocol: what a client sends, and how a subscription becomes topics and a snapshot.

Client → server (JSON text frames)::

    {"op": "subscribe", "channels": ["quote", "kline:1m"], "instances": ["binance"], "symbols": ["BTC-USDT"]}
    {"op": "unsubscribe", "channels": [...], "instances": [...], "symbols": [...]}
    {"op": "ping"}

Server → client: ``subscribed`` (the topics), ``snapshot`` (current state), ``update`` (a batch of
records in publication order), ``heartbeat``, ``pong`` and ``error`` frames, each ``{"type": …}``.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from api.push.topics import ARBITRAGE, CHANNELS, LATEST_CHANNELS, Topic
from api.state import ApiState
from core.errors import UnknownSymbolError
from core.intervals import Interval
from core.models import Channel

MAX_TOPICS = 5000
MAX_OPPORTUNITIES = 1000
"""Opportunities of one instance in an ``arbitrage`` snapshot, best first."""


class Command(BaseModel):
    """One client message."""

    model_config = ConfigDict(extra="forbid")

    op: Literal["subscribe", "unsubscribe", "ping"]
    channels: list[str] = Field(default_factory=list, max_length=len(CHANNELS))
    instances: list[str] | None = Field(None, description="default: every instance carrying the symbols")
    symbols: list[str] = Field(default_factory=list, max_length=1000)


class ProtocolError(Exception):
    """A client message that cannot be honoured; reported as an ``error`` frame."""

    def __init__(self, code: str, message: str, suggestions: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.suggestions = suggestions

    def frame(self) -> dict[str, Any]:
        return {
            "type": "error",
            "error": {"code": self.code, "message": str(self), "suggestions": list(self.suggestions)},
        }


async def topics_of(api: ApiState, command: Command) -> list[Topic]:
    """Resolve a (un)subscribe command into topics; raise :class:`ProtocolError` if it names unknowns."""
    unknown = [c for c in command.channels if c not in CHANNELS]
    if unknown or not command.channels:
        raise ProtocolError("invalid_parameter", f"channels: expected some of {', '.join(CHANNELS)}")
    explicit = command.instances is not None
    instances = command.instances if explicit else sorted(await api.catalog.instances())
    assert instances is not None
    for name in instances:
        await api.catalog.instance(name)
    topics: list[Topic] = []
    if ARBITRAGE in command.channels:
        topics += [Topic(ARBITRAGE, name, "") for name in instances]
    channels = [c for c in command.channels if c != ARBITRAGE]
    if channels and not command.symbols:
        raise ProtocolError("invalid_parameter", "symbols: give at least one symbol")
    for text in command.symbols if channels else ():
        carried = 0
        suggestions: tuple[str, ...] = ()
        for name in instances:
            try:
                symbol = await api.catalog.symbol(name, text)
            except UnknownSymbolError as exc:
                if explicit:
                    raise ProtocolError("unknown_symbol", f"{exc} on {name}", exc.suggestions) from None
                suggestions = suggestions or exc.suggestions
                continue
            carried += 1
            topics += [Topic(c, name, symbol) for c in channels]
        if not carried:
            raise ProtocolError("unknown_symbol", f"no instance carries symbol {text!r}", suggestions)
    if len(topics) > MAX_TOPICS:
        raise ProtocolError("invalid_parameter", f"at most {MAX_TOPICS} topics per connection")
    return list(dict.fromkeys(topics))


async def snapshot_of(api: ApiState, topics: list[Topic]) -> list[tuple[Topic, dict[str, Any]]]:
    """The current state of each topic: latest values, recent trades and candles (oldest first)."""
    found: list[tuple[Topic, dict[str, Any]]] = []
    history = api.tuning.snapshot_history
    by_channel: dict[str, list[Topic]] = {}
    for topic in topics:
        by_channel.setdefault(topic.channel, []).append(topic)
    for channel, group in by_channel.items():
        if channel in LATEST_CHANNELS:
            values = await api.reader.latest_of([(t.instance, t.symbol) for t in group], Channel(channel))
            found += [(t, orjson.loads(v)) for t, v in zip(group, values, strict=True) if v is not None]
        elif channel == "trades":
            for t in group:
                page = await api.reader.trades(t.instance, t.symbol, limit=history)
                found += [(t, orjson.loads(v)) for v in reversed(page.items)]
        elif channel == ARBITRAGE:
            for t in group:
                documents = await api.reader.opportunities(t.instance, limit=MAX_OPPORTUNITIES)
                found += [(t, opportunity_event(t.instance, orjson.loads(d))) for d in documents]
        elif channel.startswith("kline:"):
            interval = Interval(channel.split(":", 1)[1])
            for t in group:
                rows = await api.reader.klines_range(
                    t.instance, t.symbol, interval, limit=history, newest_first=True
                )
                found += [(t, orjson.loads(v)) for v in reversed(rows)]
    return found


def opportunity_event(instance: str, opportunity: dict[str, Any]) -> dict[str, Any]:
    """A stored opportunity in the shape of the writer's ``arbitrage`` events."""
    return {
        "channel": ARBITRAGE,
        "instance": instance,
        "id": opportunity["id"],
        "status": "open",
        "opportunity": opportunity,
        "receive_time": opportunity["detected_at"],
    }
