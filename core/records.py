"""Records built without validation, for the adapters' hot paths (compiled with mypyc, see setup.py).

:func:`trusted` lives apart from :mod:`core.models` because the models (pydantic classes) cannot be
compiled. It is the C function of ``core/_records.c`` (built at install when a compiler is there)
or, without one, :func:`trusted_python`: they give equal records. Through Python the call cost
~13k instructions a record (a dict of the keyword arguments, four ``object.__setattr__`` calls
through a slot wrapper, a set and two dict merges), 14% of the collector's in-process path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from core.models import Record

R = TypeVar("R", bound="Record")

_UNSET: Any = object()
_TEMPLATES: dict[type[BaseModel], dict[str, Any]] = {}
_set = object.__setattr__


class Trusted(Protocol):
    """The signature of :func:`trusted`."""

    def __call__(self, model: type[R], /, **values: Any) -> R: ...


def _template(model: type[BaseModel]) -> dict[str, Any]:
    """Every field of ``model`` in order, with its default (``_UNSET`` for required ones)."""
    fields = model.model_fields
    found = _TEMPLATES[model] = {
        name: _UNSET if info.is_required() else info.get_default() for name, info in fields.items()
    }
    return found


def trusted_python(model: type[R], /, **values: Any) -> R:
    """:func:`trusted` in Python (the reference of the C one, and the fallback without a compiler)."""
    found = _TEMPLATES.get(model)
    template = found if found is not None else _template(model)
    data = {**template, **values}
    if len(data) != len(template):
        raise TypeError(f"{model.__name__}: unknown fields {sorted(data.keys() - template.keys())}")
    record: R = object.__new__(model)
    _set(record, "__dict__", data)
    _set(record, "__pydantic_fields_set__", set(values))
    _set(record, "__pydantic_extra__", None)
    _set(record, "__pydantic_private__", None)
    return record


def _native() -> Trusted | None:
    try:
        from core import _records
    except ImportError:
        return None
    _records.bind(BaseModel, _TEMPLATES, _template)
    native: Trusted = _records.trusted
    return native


NATIVE = _native()
"""The C :func:`trusted`, or ``None`` when the extension was not built (no compiler at install)."""

trusted: Trusted = NATIVE or trusted_python
"""``trusted(model, **values)``: build ``model`` from values an adapter already converted and
checked, skipping validation.

For hot paths only (websocket parsers): every value must already have its field's type —
``Decimal`` (finite, from :func:`~core.decimals.exact`) for prices and amounts, ``int`` for times,
the enum members themselves. Omitted fields take their defaults; the result is equal to (and
serializes exactly like) the validated ``model(**values)``. An unknown field raises
``TypeError``; a required field left out is not checked here (it costs ~0.3 µs a record) but
cannot pass silently: encoding the record fails. Tests of each caller compare its records with
validated ones. Data not produced by the adapter's own parsing goes through the validating
constructor instead. The C build shares one fields set among the records built with the same
model and field names (the models are frozen)."""
