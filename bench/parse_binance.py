"""Binance frame handling: our raw path (orjson + parser → record) vs ccxt.pro's message handlers.

For each recorded frame type, times the whole raw path of :class:`exchanges.binance.streams.StreamSession`
(decode, dispatch, parse, build the pydantic record, queue it) against ccxt.pro's
``binance.handle_message`` on the same frame (decode with ``json`` as ccxt does, parse into ccxt's
structures, update its caches and resolve futures). ccxt's numbers do not yet include turning its
structures into our records, so they flatter ccxt. Prints frames per second, best of ``--runs``.

    .venv/bin/python -m bench.parse_binance [--frames 20000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ccxt.pro

from core.clock import SYSTEM_CLOCK
from core.models import Channel, Market
from exchanges.binance.frames import StreamStats
from exchanges.binance.parsers import BinanceParser, DepthSnapshot
from exchanges.binance.streams import StreamSession

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "binance"
FRAMES = {
    "aggTrade": "ws_combined_aggTrade",
    "bookTicker": "ws_combined_bookTicker",
    "kline": "ws_combined_kline",
}


def frame(name: str) -> bytes:
    return json.dumps(json.loads((FIXTURES / f"{name}.json").read_text())).encode()


def best(run: Callable[[], None], frames: int, runs: int) -> float:
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        rates.append(frames / (time.perf_counter() - start))
    return max(rates)


def raw_session(loop: asyncio.AbstractEventLoop) -> StreamSession:
    market = Market(
        instance="bench", symbol="NKN/USDT", native_id="NKNUSDT", base="NKN", quote="USDT", receive_time=0
    )

    async def no_snapshot(symbol: str, limit: int, urgent: bool) -> DepthSnapshot:
        raise AssertionError(symbol)

    session = StreamSession(
        base_url="ws://127.0.0.1:9",
        parser=BinanceParser("bench", [market]),
        fetch_snapshot=no_snapshot,
        depth_levels=20,
        clock=SYSTEM_CLOCK,
        stats=StreamStats(),
    )
    session._wanted = {"NKN/USDT": frozenset(Channel)}
    return session


def bench_raw(message: bytes, frames: int, runs: int) -> float:
    loop = asyncio.new_event_loop()
    session = raw_session(loop)

    def run() -> None:
        on_frame = session._on_frame
        for _ in range(frames):
            on_frame(message, 0)
        session.outbox.take()

    try:
        return best(run, frames, runs)
    finally:
        loop.close()


def bench_ccxt(message: bytes, frames: int, runs: int) -> float:
    async def main() -> float:
        exchange: Any = ccxt.pro.binance({"options": {"fetchMarkets": {"types": ["spot"]}}})
        exchange.number = str
        info = json.loads((FIXTURES / "rest_exchangeInfo_symbol_entries_recent.json").read_text())[0]
        nkn = {**info, "symbol": "NKNUSDT", "baseAsset": "NKN"}
        exchange.options["crossMarginPairsData"] = []
        exchange.options["isolatedMarginPairsData"] = []
        exchange.set_markets([exchange.parse_market(nkn)])
        client = exchange.client("wss://stream.binance.com:9443/stream")
        try:

            def run() -> None:
                handle = exchange.handle_message
                for _ in range(frames):
                    handle(client, json.loads(message))

            return best(run, frames, runs)
        finally:
            await exchange.close()

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"{'frame':<12} {'raw frames/s':>14} {'ccxt.pro frames/s':>18} {'ratio':>7}")
    for kind, name in FRAMES.items():
        message = frame(name)
        raw = bench_raw(message, args.frames, args.runs)
        pro = bench_ccxt(message, args.frames, args.runs)
        print(f"{kind:<12} {raw:>14,.0f} {pro:>18,.0f} {raw / pro:>7.1f}")


if __name__ == "__main__":
    main()
