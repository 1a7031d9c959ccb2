"""The huobi adapter plugin and its simulated venue."""
