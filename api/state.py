"""The typed state the lifespan creates and every request reads (``request.state.api``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from api.catalog import Catalog
from api.metrics import ApiMetrics
from api.push.hub import Hub
from api.settings import ApiTuning
from core.config import ApiConfig
from core.store import StoreReader


@dataclass
class ApiState:
    """Everything a request handler needs; created once per process by the lifespan."""

    config: ApiConfig
    tuning: ApiTuning
    reader: StoreReader
    catalog: Catalog
    metrics: ApiMetrics
    hub: Hub

    @property
    def stale_after_ms(self) -> int:
        return int(self.config.stale_after * 1000)

    def now_ms(self) -> int:
        return self.tuning.clock.now_ms()

    def age(self, receive_time: int | None, event_time: int | None = None) -> tuple[int | None, bool]:
        """``(age_ms, stale)`` of data received at ``receive_time`` (None: nothing stored).

        Stale also when it reached the collector more than ``stale_after`` after the exchange's
        ``event_time``: a collector that lags the market writes old data with fresh receive times.
        """
        if receive_time is None:
            return None, True
        age = max(0, self.now_ms() - receive_time)
        late = event_time is not None and receive_time - event_time > self.stale_after_ms
        return age, late or age > self.stale_after_ms

    def envelope(
        self, source: str, symbol: str, event_time: int | None, receive_time: int | None
    ) -> dict[str, Any]:
        """The freshness fields every answer carries."""
        age, stale = self.age(receive_time, event_time)
        return {
            "source": source,
            "symbol": symbol,
            "event_time": event_time,
            "receive_time": receive_time,
            "age_ms": age,
            "stale": stale,
        }

    def wrap(self, record: dict[str, Any]) -> dict[str, Any]:
        """A stored latest-value record with its freshness fields."""
        body = self.envelope(
            record["instance"], record["symbol"], record.get("event_time"), record["receive_time"]
        )
        body["data"] = record
        return body


async def get_state(request: Request) -> ApiState:
    """The process's :class:`ApiState` (set by the lifespan)."""
    state: ApiState = request.state.api
    return state


Api = Annotated[ApiState, Depends(get_state)]
