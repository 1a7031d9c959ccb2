"""Records built without validation, for the adapters' hot paths (compiled with mypyc, see setup.py).

:func:`trusted` lives apart from :mod:`core.models` because the models (pydantic classes) cannot be
compiled, while this function, called for every record a stream frame yields, can. Its last steps
(the record's ``__dict__`` and pydantic's three slots set) are in C (``core/_records.c``, built at
install when a compiler is there): through ``object.__setattr__`` they were most of its cost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from core.models import Record

R = TypeVar("R", bound="Record")

_UNSET: Any = object()
_TEMPLATES: dict[type[BaseModel], dict[str, Any]] = {}
_set = object.__setattr__

Build = Callable[[type[Any], dict[str, Any], dict[str, Any]], Any]


def _native() -> Build | None:
    try:
        from core import _records
    except ImportError:
        return None
    _records.bind(BaseModel)
    return _records.build


def build_python(model: type[Any], template: dict[str, Any], values: dict[str, Any]) -> Any:
    """A ``model`` of ``template`` updated with ``values``, unvalidated (the reference of the C build)."""
    data = {**template, **values}
    if len(data) != len(template):
        raise TypeError(f"{model.__name__}: unknown fields {sorted(data.keys() - template.keys())}")
    record = object.__new__(model)
    _set(record, "__dict__", data)
    _set(record, "__pydantic_fields_set__", set(values))
    _set(record, "__pydantic_extra__", None)
    _set(record, "__pydantic_private__", None)
    return record


NATIVE = _native()
"""The C build, or ``None`` when the extension was not built (no compiler at install)."""

_build: Build = NATIVE or build_python


def _template(model: type[BaseModel]) -> dict[str, Any]:
    """Every field of ``model`` in order, with its default (``_UNSET`` for required ones)."""
    fields = model.model_fields
    found = _TEMPLATES[model] = {
        name: _UNSET if info.is_required() else info.get_default() for name, info in fields.items()
    }
    return found


def trusted(model: type[R], **values: Any) -> R:
    """Build ``model`` from values an adapter already converted and checked, skipping validation.

    For hot paths only (websocket parsers): every value must already have its field's type —
    ``Decimal`` (finite, from :func:`~core.decimals.exact`) for prices and amounts, ``int`` for
    times, the enum members themselves. Omitted fields take their defaults; the result is equal to
    (and serializes exactly like) the validated ``model(**values)``. An unknown field raises
    ``TypeError``; a required field left out is not checked here (it costs ~0.3 µs a record) but
    cannot pass silently: encoding the record fails. Tests of each caller compare its records with
    validated ones. Data not produced by the adapter's own parsing goes through the validating
    constructor instead.
    """
    found = _TEMPLATES.get(model)
    template = found if found is not None else _template(model)
    record: R = _build(model, template, values)
    return record
