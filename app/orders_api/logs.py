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


_N_STANDARD: Final = len(logging.LogRecord("", 0, "", 0, "", None, None).__dict__)
_ENCODER: Final = json.JSONEncoder(default=str, ensure_ascii=False, separators=(",", ":"))
_json_str: Final = json.encoder.encode_basestring  # str -> JSON string literal, as _ENCODER writes it


class _Clock:
    """RFC 3339 UTC timestamps with milliseconds; the seconds part is formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def stamp(self, created: float) -> str:
        second = int(created)
        if second != self._second:  # benign race: both threads compute the same string
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{int((created - second) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", "request_id"?, <extra fields>..., "exc"?}`` on one line."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.redactor = redactor
        self._clock = _Clock()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self._clock.stamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        attrs = record.__dict__
        if len(attrs) > _N_STANDARD:  # extra fields, in the order given
            for key, value in attrs.items():
                if key not in _STANDARD_ATTRS and key[0] != "_":
                    entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return self.redactor.scrub(_ENCODER.encode(entry))


class JsonLineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The process's one log handler: JSON lines on a stream, plus a direct path for access lines.

    Access lines are buffered briefly, like nginx's ``access_log ... buffer= flush=``: written when
    ``ACCESS_FLUSH_BYTES`` accumulate, at the latest ``ACCESS_FLUSH_SECONDS`` later (a flusher thread),
    and always before any other line (order is kept) and at shutdown. One write per batch instead of
    one per request; a process killed with SIGKILL may lose the last fraction of a second of access lines.
    """

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        self.json = JsonFormatter()
        self.setFormatter(self.json)
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    def start_flusher(self) -> None:
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_periodically, name="log-flush", daemon=True)
            self._flusher.start()

    def _flush_periodically(self) -> None:
        while not self._stop.wait(ACCESS_FLUSH_SECONDS):
            if self._pending:
                self.flush()

    def _drain(self) -> None:  # caller holds the lock
        if self._pending:
            self.stream.write("".join(self._pending))
            self._pending.clear()
            self._pending_bytes = 0

    def write_request(self, method: str, route: str, path: str, status: int, duration: float) -> None:
        """Queue one access line: the same JSON object a ``LogRecord`` would give, built directly as text
        (no record, no dict, no encoder: a third of the cost of ``logger.info`` on every request)."""
        request_id = REQUEST_ID.get()
        rid = f'"request_id":{_json_str(request_id)},' if request_id is not None else ""
        line = (f'{{"ts":"{self.json._clock.stamp(time.time())}","level":"info","logger":"{ACCESS_LOGGER}",'
                f'"msg":"request",{rid}"method":{_json_str(method)},"route":{_json_str(route)},'
                f'"path":{_json_str(path)},"status":{status:d},"duration_seconds":{duration:.6f}}}\n')
        line = self.json.redactor.scrub(line)
        with self.lock:  # type: ignore[union-attr]
            self._pending.append(line)
            self._pending_bytes += len(line)
            if self._pending_bytes >= ACCESS_FLUSH_BYTES or self._flusher is None:
                self._drain()
                self.stream.flush()

    def emit(self, record: logging.LogRecord) -> None:  # called with the lock held
        self._drain()
        super().emit(record)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._drain()
        super().flush()

    def close(self) -> None:
        self._stop.set()
        self.flush()
        super().close()


ACCESS_FLUSH_SECONDS: Final = 0.2
ACCESS_FLUSH_BYTES: Final = 16_384
ACCESS_LOGGER: Final = "orders_api.access"
_access = logging.getLogger(ACCESS_LOGGER)
_root = logging.getLogger()
_direct: list[JsonLineHandler] = []  # the handler installed by configure_logging, if any


def log_access(method: str, route: str, path: str, status: int, duration: float) -> None:
    """Log one request at info level on ``orders_api.access``. When the configured JSON handler is the
    only destination, the line is written directly; otherwise (tests adding handlers, filters) it goes
    through ``logging`` as usual. Both give the same JSON object."""
    if not _access.isEnabledFor(logging.INFO):
        return
    if _direct and not _access.handlers and not _access.filters and _access.propagate \
            and len(_root.handlers) == 1 and _root.handlers[0] is _direct[0] and _direct[0].level <= logging.INFO:
        _direct[0].write_request(method, route, path, status, duration)
    else:
        _access.info("request", extra={"method": method, "route": route, "path": path, "status": status,
                                       "duration_seconds": round(duration, 6)})


def configure_logging(level: str, stream: IO[str] | None = None, buffer_access: bool = True) -> logging.Handler:
    """Route the root logger (and uvicorn's) to one JSON handler on ``stream`` (stdout by default).
    ``buffer_access=False`` writes every access line at once (no flusher thread)."""
    # Cheaper log records: no caller lookup (a stack walk per line) and no thread/process names, which
    # these lines do not carry (the logging HOWTO's "Optimization" section).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = JsonLineHandler(stream or sys.stdout)
    if buffer_access:
        handler.start_flusher()
    _direct[:] = [handler]
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
