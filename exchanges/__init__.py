"""Built-in exchange adapter plugins; each sub-package imports only ``core``."""
