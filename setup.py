"""Build of the optional C extension; everything else is in pyproject.toml.

``exchanges.binance._levels`` (the native side of the Binance local book) is ``optional``: without a
C compiler the install still succeeds and the pure-Python book is used (see exchanges/binance/levels.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "exchanges.binance._levels",
            sources=["exchanges/binance/_levels.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
