"""Log output of every quotewire process: text lines for people, or JSON lines for log pipelines.

JSON (``quotewire --log-format json`` or ``QUOTEWIRE_LOG_FORMAT=json``) writes one object a line:
``time`` (UTC, ISO 8601 to the millisecond), ``level``, ``logger``, ``message``; ``instance`` when
the line comes from one exchange instance's work; ``exception`` (the traceback) when there is one;
and any field a call passes with ``extra=``. Text lines stay as they were:
``2026-12-06 15:11:00,779 INFO core.collector.instance: binance: …``.

The instance is a context variable (:data:`LOG_INSTANCE`): the collector sets it in each instance's
supervising task, and every task that instance starts inherits it, so no call site has to pass it.
"""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

LogFormat = Literal["text", "json"]
LOG_FORMAT_ENV = "QUOTEWIRE_LOG_FORMAT"
"""The environment variable that picks the format (``text`` or ``json``); child processes of
``quotewire up`` inherit it."""
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

LOG_INSTANCE: ContextVar[str | None] = ContextVar("quotewire_log_instance", default=None)
"""The exchange instance whose work is running, for the ``instance`` field of JSON lines."""

_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "instance",
    "taskName",
}


class InstanceFilter(logging.Filter):
    """Stamps each record with the running instance (:data:`LOG_INSTANCE`), unless it has one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "instance", None) is None:
            record.instance = LOG_INSTANCE.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line (see the module's docstring); a value JSON cannot hold is its ``str``."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        instance = getattr(record, "instance", None)
        if instance is not None:
            document["instance"] = instance
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(document, default=str).decode()


def log_format(choice: str | None = None) -> LogFormat:
    """``choice``, else ``$QUOTEWIRE_LOG_FORMAT``, else ``text``; anything else is a ``ValueError``."""
    value = (choice or os.environ.get(LOG_FORMAT_ENV) or "text").strip().lower()
    if value == "text":
        return "text"
    if value == "json":
        return "json"
    raise ValueError(f"log format must be text or json, not {value!r}")


def configure_logging(*, verbose: bool = False, format: LogFormat = "text") -> None:
    """Send the root logger's records to stderr in ``format``, at INFO (DEBUG when ``verbose``)."""
    handler = logging.StreamHandler()
    handler.addFilter(InstanceFilter())
    handler.setFormatter(JsonFormatter() if format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)
