"""quotewire core: the exchange-agnostic framework.

The model (:mod:`core.models`), the plugin contract (:mod:`core.hookspecs`, :mod:`core.adapter`),
configuration (:mod:`core.config`) and the Redis store (:mod:`core.store`). Nothing here imports
from ``exchanges`` or ``api``.
"""
