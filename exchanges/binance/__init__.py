"""The binance adapter plugin and its simulated venue."""
