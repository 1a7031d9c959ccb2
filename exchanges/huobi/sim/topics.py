"""HTX websocket topic names: parse ``market.$symbol.$channel`` into its parts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from exchanges.huobi.sim.codec import PERIODS

MBP_LEVELS = frozenset({5, 20, 150, 400})
REFRESH_LEVELS = frozenset({5, 10, 20})
_TOPIC = re.compile(
    r"^market\.(?P<symbol>[a-z0-9]+)\."
    r"(?P<channel>kline\.(?P<period>\w+)|depth\.(?P<step>step[0-5])|bbo|detail|ticker|trade\.detail"
    r"|mbp\.(?P<refresh>refresh\.)?(?P<levels>\d+))$"
)


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic; ``kind`` is ``kline``, ``depth``, ``bbo``, ``detail``, ``ticker``,
    ``trade.detail``, ``mbp`` (incremental) or ``mbp.refresh``."""

    name: str
    symbol: str
    kind: str
    period: str = ""
    levels: int = 0


def parse_topic(name: str) -> Topic | None:
    """The topic, or None when HTX would answer ``invalid topic``."""
    match = _TOPIC.match(name)
    if match is None:
        return None
    symbol, channel = match["symbol"], match["channel"]
    if match["period"] is not None:
        if match["period"] not in PERIODS:
            return None
        return Topic(name, symbol, "kline", period=match["period"])
    if match["step"] is not None:
        return Topic(name, symbol, "depth")
    if match["levels"] is not None:
        levels = int(match["levels"])
        if match["refresh"]:
            return Topic(name, symbol, "mbp.refresh", levels=levels) if levels in REFRESH_LEVELS else None
        return Topic(name, symbol, "mbp", levels=levels) if levels in MBP_LEVELS else None
    return Topic(name, symbol, channel)
