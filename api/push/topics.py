"""What a websocket client can subscribe to, and which topic a store event belongs to."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, NamedTuple

from core.intervals import ALL_INTERVALS

LATEST_CHANNELS = frozenset({"ticker", "quote", "price", "depth"})
"""Channels whose newest value supersedes older ones (a slow client gets them conflated)."""
KLINE_CHANNELS = tuple(f"kline:{i.value}" for i in ALL_INTERVALS)
ARBITRAGE = "arbitrage"
CHANNELS: tuple[str, ...] = ("ticker", "quote", "price", "depth", "trades", *KLINE_CHANNELS, ARBITRAGE)


class Topic(NamedTuple):
    """One stream: ``("quote", "binance", "BTC/USDT")``; arbitrage topics have symbol ``""``."""

    channel: str
    instance: str
    symbol: str

    def as_dict(self) -> dict[str, str]:
        return {"channel": self.channel, "instance": self.instance, "symbol": self.symbol}


def topic_of(instance: str, record: dict[str, Any]) -> Topic:
    """The topic of a record the writer published for ``instance``."""
    channel = str(record.get("channel", ""))
    if channel == "kline":
        channel = f"kline:{record.get('interval')}"
    symbol = "" if channel == ARBITRAGE else str(record.get("symbol", ""))
    return Topic(channel, str(record.get("instance") or instance), symbol)


def conflation_key(topic: Topic, record: dict[str, Any]) -> Hashable | None:
    """Records with equal keys supersede each other; None for records that must all be delivered."""
    if topic.channel in LATEST_CHANNELS:
        return topic
    if topic.channel.startswith("kline:"):
        return (topic, record.get("open_time"))
    if topic.channel == ARBITRAGE:
        return (topic, record.get("id"))
    return None
