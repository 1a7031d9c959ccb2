"""The Redis store: the only code that knows the key schema (see docs/redis-schema.md).

:class:`~core.store.writer.StoreWriter` batches, conflates and pipelines writes for the collector;
:class:`~core.store.reader.StoreReader` is what the API reads through.
"""

from core.store.keys import SCHEMA_VERSION, KeySchema
from core.store.reader import StoreReader
from core.store.writer import ARBITRAGE_CHANNEL, RankedItem, StoreWriter, WriterStats

__all__ = [
    "ARBITRAGE_CHANNEL",
    "SCHEMA_VERSION",
    "KeySchema",
    "RankedItem",
    "StoreReader",
    "StoreWriter",
    "WriterStats",
]
