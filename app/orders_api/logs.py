"""JSON logs: one object per line on stdout, with the request id of the request being served.

Every line passes through the :data:`REDACTOR`: any secret value the process holds (Vault token,
AppRole secret id, JWT, every key of the app's secret) is replaced by ``[REDACTED]`` before the line is
written, at every level. Code never logs secret values in the first place; this is the second line.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import threading
import time
from collections import OrderedDict
from typing import IO, Any, Final

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
REDACTED: Final = "[REDACTED]"
MIN_REDACT_LENGTH: Final = 4  # shorter values would redact ordinary words; secrets are longer
# LogRecord's own attributes, and uvicorn's ANSI-coloured duplicate of its message: not output fields.
_STANDARD_ATTRS: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "color_message"}


class Redactor:
    """The set of secret values currently held; :meth:`scrub` removes them from text."""

    def __init__(self, capacity: int = 256) -> None:
        self._lock = threading.Lock()
        self._capacity = capacity
        self._values: OrderedDict[str, None] = OrderedDict()
        self._snapshot: tuple[str, ...] = ()

    def add(self, *values: str | None) -> None:
        with self._lock:
            for value in values:
                if not value or len(value) < MIN_REDACT_LENGTH:
                    continue
                for form in {value, json.dumps(value)[1:-1]}:  # raw and JSON-escaped
                    self._values[form] = None
                    self._values.move_to_end(form)
            while len(self._values) > self._capacity:
                self._values.popitem(last=False)
            # Longest first, so that a secret containing another is removed whole.
            self._snapshot = tuple(sorted(self._values, key=len, reverse=True))

    def scrub(self, text: str) -> str:
        for value in self._snapshot:
            if value in text:
                text = text.replace(value, REDACTED)
        return text


REDACTOR: Final = Redactor()


def _timestamp(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", "request_id"?, <extra fields>..., "exc"?}`` on one line."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return self.redactor.scrub(json.dumps(entry, default=str, ensure_ascii=False, separators=(",", ":")))


def configure_logging(level: str, stream: IO[str] | None = None) -> logging.Handler:
    """Route the root logger (and uvicorn's) to one JSON handler on ``stream`` (stdout by default)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(level.upper())
    # Third-party debug output (urllib3 URLs, hvac) stays at warning even at debug level.
    for name in ("urllib3", "hvac", "httpx", "httpcore", "asyncio"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
