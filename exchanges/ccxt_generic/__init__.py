"""The generic ``ccxt`` plugin: collect from any exchange ccxt supports, chosen by ``ccxt_id``."""
