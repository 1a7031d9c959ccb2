"""The collector: keeps Redis filled with fresh normalized data from every enabled instance.

:class:`~core.collector.service.Collector` runs one :class:`~core.collector.instance.InstanceRunner`
per instance. A runner streams what the venue streams, polls the rest over REST within the budget
the planner (:mod:`core.collector.budget`) computes, backfills K-lines so no series has holes, and
recovers from disconnects, stalls, rate limits and Redis outages.
"""

from core.collector.budget import BudgetPlan, ChannelPlan, plan_polling
from core.collector.instance import InstanceRunner
from core.collector.limiter import RateLimiter, ReportsUsedWeight
from core.collector.service import Collector

__all__ = [
    "BudgetPlan",
    "ChannelPlan",
    "Collector",
    "InstanceRunner",
    "RateLimiter",
    "ReportsUsedWeight",
    "plan_polling",
]
