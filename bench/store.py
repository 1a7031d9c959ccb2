"""Store throughput: normalized updates/s written through StoreWriter vs raw pipelined SETs.

Runs against a private redis-server on a free port (never a shared one). Both sides write the same
number of distinct keys with payloads of the same size, through redis-py with hiredis; the store
also encodes each record, sets freshness and publishes every update. Prints both rates and their
ratio (target: the store reaches at least 75% of the raw rate).

    .venv/bin/python -m bench.store [--records 200000] [--batch 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import redis

from core.models import Quote
from core.store import StoreWriter
from core.store.codec import encode
from tests.support.redis_server import RedisServer


def make_quotes(count: int) -> list[Quote]:
    """``count`` quotes of distinct symbols, with exchange-like decimal strings."""
    return [
        Quote(
            instance="bench",
            symbol=f"A{i}/USDT",
            event_time=1_700_000_000_000 + i,
            receive_time=1_700_000_000_001 + i,
            bid=f"{100 + i % 997}.{i % 100:02d}000000",
            bid_size="1.23400000",
            ask=f"{100 + i % 997}.{i % 100 + 1:02d}000000",
            ask_size="0.50000000",
        )
        for i in range(count)
    ]


def raw_sets(url: str, payloads: list[bytes], batch: int) -> float:
    """SETs of distinct keys in pipelines of ``batch`` commands; returns SETs/s."""
    client = redis.Redis.from_url(url)
    start = time.perf_counter()
    for offset in range(0, len(payloads), batch):
        pipe = client.pipeline(transaction=False)
        for i in range(offset, min(offset + batch, len(payloads))):
            pipe.set(f"raw:{i}", payloads[i])
        pipe.execute()
    elapsed = time.perf_counter() - start
    client.close()
    return len(payloads) / elapsed


async def store_writes(url: str, records: list[Quote], batch: int) -> float:
    """Records through StoreWriter.put + flush every ``batch`` records; returns records/s."""
    async with StoreWriter(url, flush_interval=3600) as writer:
        start = time.perf_counter()
        for offset in range(0, len(records), batch):
            for record in records[offset : offset + batch]:
                writer.put(record)
            await writer.flush()
        elapsed = time.perf_counter() - start
    return len(records) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=2_000, help="records per flush / per pipeline")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    server = RedisServer()
    server.start()
    try:
        url = server.url(2)
        records = make_quotes(args.records)
        payloads = [encode(r) for r in records]
        raw_rates, store_rates = [], []
        for _ in range(args.runs):
            redis.Redis.from_url(url).flushall()
            raw_rates.append(raw_sets(url, payloads, args.batch))
            redis.Redis.from_url(url).flushall()
            store_rates.append(asyncio.run(store_writes(url, records, args.batch)))
        raw, store = sorted(raw_rates)[len(raw_rates) // 2], sorted(store_rates)[len(store_rates) // 2]
        print(f"records per run:             {args.records:,} distinct keys, {args.batch:,} per flush")
        print(f"payload size:                {len(payloads[0])} bytes")
        print(f"raw pipelined SET (redis-py): {raw:,.0f} SETs/s   (median of {args.runs})")
        print(f"store (encode+conflate+MSET+freshness+publish): {store:,.0f} updates/s")
        print(f"ratio store/raw:             {store / raw:.0%}   (target >= 75%)")
    finally:
        server.close()


if __name__ == "__main__":
    main()
