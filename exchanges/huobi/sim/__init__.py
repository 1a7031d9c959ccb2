"""A simulated HTX (Huobi) spot venue on the shared market engine: REST, gzip websockets, faults."""

from exchanges.huobi.sim.faults import Faults
from exchanges.huobi.sim.venue import HuobiVenue, create_venue

__all__ = ["Faults", "HuobiVenue", "create_venue"]
