"""Stub of the C extension ``core/_records.c`` (see :mod:`core.records`)."""

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

R = TypeVar("R")

def bind(
    base_model: type[BaseModel],
    templates: dict[type[BaseModel], dict[str, Any]],
    template_factory: Callable[[type[BaseModel]], dict[str, Any]],
    /,
) -> None: ...
def trusted(model: type[R], /, **values: Any) -> R: ...
