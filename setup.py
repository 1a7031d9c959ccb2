"""Build of the optional C extensions; everything else is in pyproject.toml.

Both are ``optional``: without a C compiler the install still succeeds and their Python twins run.

* ``exchanges.binance._levels``: the native side of the Binance local book (see
  exchanges/binance/levels.py);
* ``core.store._resp``: the store's Redis commands packed into RESP (see core/store/resp.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "exchanges.binance._levels",
            sources=["exchanges/binance/_levels.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        Extension(
            "core.store._resp",
            sources=["core/store/_resp.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
    ]
)
