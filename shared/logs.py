"""Logging for every process: text for people, or one JSON object per line (``PAYHOOK_LOG_FORMAT=json``).

A line about a callback carries its ``entry_id``: the ``id`` of the receiver's 200 (a stream entry id, or
``spool-<n>`` while Redis was away), which the commit and the dead letter name too. Lines never carry bodies,
keys or signatures; an exception is named by its type (the traceback goes to the dead letter's row).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

# The fields a record may carry about a callback (``extra=``), in the order lines show them.
FIELDS = ("entry_id", "provider", "outcome", "reason", "event_type")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                document[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            document["error"] = record.exc_info[0].__name__
        return orjson.dumps(document, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record) if not record.exc_info else self._without_traceback(record)
        fields = " ".join(f"{name}={record.__dict__[name]}" for name in FIELDS if record.__dict__.get(name))
        return f"{line} [{fields}]" if fields else line

    def _without_traceback(self, record: logging.LogRecord) -> str:
        error = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else "error"
        plain = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return f"{super().format(plain)} ({error})"


def configure(log_format: str, level: str = "WARNING", stream: object = None) -> logging.Handler:
    """One handler on the root logger, in the chosen format; returns it."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    return handler
