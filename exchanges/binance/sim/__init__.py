"""The simulated Binance spot venue: Binance's market-data wire protocol over :mod:`core.sim`.

One aiohttp port serves ``/api/v3/*`` (REST, with weights, rate limits and error bodies),
``/ws``, ``/ws/<streams>`` and ``/stream?streams=`` (market streams), and ``/_sim/*`` (faults and
control, see :mod:`exchanges.binance.sim.venue`). Point ccxt at it with
``urls["api"]["public"] = base_urls()["api"]`` and ``urls["api"]["ws"]["spot"] = base_urls()["ws"]``.
"""

from exchanges.binance.sim.faults import Faults
from exchanges.binance.sim.venue import BinanceVenue, create_venue

__all__ = ["BinanceVenue", "Faults", "create_venue"]
