"""Paperex: an example third-party quotewire adapter package (adapter, simulated venue, plugin)."""
