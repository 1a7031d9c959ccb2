"""Arbitrage engine throughput on a Binance-sized graph.

Builds ~420 assets and ~1,600 markets (deterministic seed) quoted around one set of fair values
with realistic spreads, plus a few mispriced markets, then feeds pre-built Quote records one by one
and prints updates/s, per-update latency p50/p99/max (µs), and the time of a full recompute.

    .venv/bin/python -m bench.arbitrage [--updates 200000] [--legs 3]
"""

from __future__ import annotations

import argparse
import random
import time
from decimal import Decimal

from core.arbitrage import ArbitrageEngine, ArbitrageSettings
from core.models import Market, Quote

INSTANCE = "bench"
QUOTES = {"USDT": 420, "BTC": 350, "ETH": 200, "BNB": 120, "FDUSD": 160, "USDC": 160, "TRY": 90, "EUR": 45}
"""Quote asset → how many of the base assets list against it (roughly Binance spot)."""


class _Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def now_ms(self) -> int:
        return self.now

    def monotonic(self) -> float:
        return self.now / 1000

    async def sleep(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


def _dec(value: float) -> Decimal:
    return Decimal(f"{value:.8g}")


def build(seed: int) -> tuple[list[Market], dict[str, float]]:
    """The markets and each market's fair mid price."""
    rng = random.Random(seed)
    fair = {"USDT": 1.0, "USDC": 1.0, "FDUSD": 1.0, "BTC": 60000.0, "ETH": 3000.0, "BNB": 550.0,
            "TRY": 0.03, "EUR": 1.08}
    bases = [f"A{i:03d}" for i in range(420)]
    for base in bases:
        fair[base] = 10 ** rng.uniform(-4, 3)
    pairs: list[tuple[str, str]] = []
    for quote, count in QUOTES.items():
        pairs += [(b, quote) for b in rng.sample(bases, count)]
    majors = ["BTC", "ETH", "BNB", "USDC", "FDUSD", "EUR"]
    for i, base in enumerate(majors):
        for quote in ("USDT", "BTC", "ETH", "FDUSD", "USDC", "TRY", "EUR")[: 7 - i]:
            if base != quote and (quote, base) not in pairs and (base, quote) not in pairs:
                pairs.append((base, quote))
    markets = [
        Market(instance=INSTANCE, symbol=f"{b}/{q}", native_id=b + q, base=b, quote=q,
               amount_increment=Decimal("0.001"), min_notional=Decimal("0.00001"), receive_time=0)
        for b, q in pairs
    ]
    mids = {m.symbol: fair[m.base] / fair[m.quote] for m in markets}
    for symbol in rng.sample(sorted(mids), 6):  # a few mispricings
        mids[symbol] *= rng.choice([0.97, 1.03])
    return markets, mids


def quotes(mids: dict[str, float], count: int, seed: int, clock: _Clock) -> list[Quote]:
    """``count`` quote updates on uniformly chosen markets, jittering around their mids."""
    rng = random.Random(seed + 1)
    symbols = sorted(mids)
    found = []
    for i in range(count):
        symbol = symbols[rng.randrange(len(symbols))] if i >= len(symbols) else symbols[i]
        mid = mids[symbol] * (1 + rng.uniform(-0.0005, 0.0005))
        half = mid * rng.uniform(0.0001, 0.001)
        found.append(Quote(instance=INSTANCE, symbol=symbol, event_time=None, receive_time=clock.now,
                           bid=_dec(mid - half), bid_size=_dec(rng.uniform(0.1, 500)),
                           ask=_dec(mid + half), ask_size=_dec(rng.uniform(0.1, 500))))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--updates", type=int, default=200_000)
    parser.add_argument("--legs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    clock = _Clock()
    markets, mids = build(args.seed)
    assets = {a for m in markets for a in (m.base, m.quote)}
    started = time.perf_counter()
    settings = ArbitrageSettings(taker_fee=Decimal("0.001"), max_legs=args.legs)
    engine = ArbitrageEngine(INSTANCE, settings, clock)
    engine.load_markets(markets)
    loaded = time.perf_counter() - started
    print(f"graph: {len(markets)} markets, {len(assets)} assets, {len(engine.cycles)} cycles "
          f"(max {args.legs} legs), built in {loaded * 1000:.0f} ms")
    records = quotes(mids, args.updates, args.seed, clock)
    apply = engine.apply
    for record in records[: len(mids)]:  # warm-up: every market quoted once
        apply(record)
    timed = records[len(mids):]
    clock_ns = time.perf_counter_ns
    latencies = []
    started = time.perf_counter()
    for record in timed:
        before = clock_ns()
        apply(record)
        latencies.append(clock_ns() - before)
    elapsed = time.perf_counter() - started
    plain = time.perf_counter()
    for record in timed:
        apply(record)
    plain_elapsed = time.perf_counter() - plain
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(int(p * len(latencies)), len(latencies) - 1)] / 1000

    print(f"updates: {len(timed)} in {plain_elapsed:.2f} s -> {len(timed) / plain_elapsed:,.0f} updates/s "
          f"(with per-update timers: {len(timed) / elapsed:,.0f}/s)")
    print(f"latency per update: p50 {pct(0.5):.1f} us, p99 {pct(0.99):.1f} us, "
          f"p99.9 {pct(0.999):.1f} us, max {latencies[-1] / 1000:.1f} us")
    started = time.perf_counter()
    engine.recompute_all()
    screened = time.perf_counter() - started
    started = time.perf_counter()
    engine.recompute_all(exact=True)
    exact = time.perf_counter() - started
    print(f"full recompute of {len(engine.cycles)} cycles: {screened * 1000:.1f} ms screened, "
          f"{exact * 1000:.1f} ms with every cycle evaluated exactly")
    best = engine.opportunities()
    print(f"opportunities: {len(best)}" + (f", best net {float(best[0].net_return):.4%} via "
                                         f"{' > '.join(best[0].path)}" if best else ""))


if __name__ == "__main__":
    main()
