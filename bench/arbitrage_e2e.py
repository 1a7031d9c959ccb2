"""Arbitrage detection latency end to end: venue publishes a quote → opportunity arrives on push.

Runs the simulated Binance venue, the collector (arbitrage observer on), the API and one websocket
client subscribed to ``arbitrage``, all in this process on a private redis-server. Each round
misprices ETH/BTC by ``--bps``, waits for the opportunity on push, then restores the price and waits
for the close. The latency of a round is from the venue's publication of the last best-price
change of a leg of the reported cycle before the event arrived, to the event's arrival
(monotonic clock). The issue targets ≤ 100 ms.

    .venv/bin/python -m bench.arbitrage_e2e [--rounds 20] [--bps 150]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from core.sim import MarketListener, MarketState
from tests.support.arbitrage_stack import ArbitragePush, arbitrage_stack
from tests.support.redis_server import RedisServer

CROSS = "ETHBTC"


class LegPublications(MarketListener):
    """When (monotonic) the venue last published a best-price change of each market."""

    def __init__(self) -> None:
        self.changed: set[str] = set()
        self.published: dict[str, list[float]] = {}

    def on_best(self, market: MarketState, time_ms: int) -> None:
        self.changed.add(market.symbol)

    def on_batch(self, time_ms: int) -> None:
        now = time.monotonic()  # after the venue's own hub flushed this batch's frames
        for symbol in self.changed:
            self.published.setdefault(symbol, []).append(now)
        self.changed.clear()

    def last_before(self, symbols: list[str], moment: float) -> float:
        return max(t for s in symbols for t in self.published.get(s, ()) if t <= moment)


async def run(rounds: int, bps: int, redis_url: str) -> list[float]:
    latencies: list[float] = []
    async with arbitrage_stack(redis_url, stale_after_ms=5000) as stack, ArbitragePush.connect(stack) as push:
        legs = LegPublications()
        stack.venue.engine.add_listener(legs)
        for _ in range(rounds):
            await stack.inject(CROSS, bps)
            async with asyncio.timeout(20):
                while True:
                    arrived, event = await push.next_event()
                    if event["status"] == "open":
                        break
            natives = [leg["symbol"].replace("/", "") for leg in event["opportunity"]["legs"]]
            latencies.append((arrived - legs.last_before(natives, arrived)) * 1000)
            await stack.inject(CROSS, 0)
            async with asyncio.timeout(20):
                while (await stack.opportunities())["count"]:  # noqa: ASYNC110 - polls the API
                    await asyncio.sleep(0.05)
            await push.updates_for(0.2)  # drain the closes
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--bps", type=int, default=150)
    args = parser.parse_args()
    server = RedisServer()
    server.start()
    try:
        latencies = sorted(asyncio.run(run(args.rounds, args.bps, server.url(2))))
    finally:
        server.close()
    p = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else latencies * 99
    print(f"detection latency venue → push over {len(latencies)} rounds (ms):")
    print(f"  p50 {p[49]:.1f}   p90 {p[89]:.1f}   p99 {p[98]:.1f}   max {latencies[-1]:.1f}   target ≤ 100")


if __name__ == "__main__":
    main()
