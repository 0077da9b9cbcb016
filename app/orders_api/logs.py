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
from collections.abc import Callable
from typing import IO, Any, Final

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
REDACTED: Final = "[REDACTED]"
MIN_REDACT_LENGTH: Final = 4  # shorter values would redact ordinary words; secrets are longer
# LogRecord's own attributes, and uvicorn's ANSI-coloured duplicate of its message: not output fields.
_STANDARD_ATTRS: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "color_message",
}


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


# One completed request as the access log receives it:
# (method, route, path, status, duration_seconds, request_id, perf_counter() at completion)
AccessEntry = tuple[str, str, str, int, float, "str | None", float]


class JsonLineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The process's one log handler: JSON lines on a stream, plus a direct path for access lines.

    Access lines arrive in batches (:func:`log_access`), like nginx's ``access_log ... buffer= flush=``:
    the middleware queues completed requests and they are accounted every ``ACCESS_BATCH`` requests, at
    the latest ``ACCESS_FLUSH_SECONDS`` later (this handler's flusher thread runs the registered
    :func:`before_write` hooks), before any other line is written (order is kept) and at shutdown. A
    process killed with SIGKILL may lose the last fraction of a second of access lines.
    """

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        self.json = JsonFormatter()
        self.setFormatter(self.json)
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._fields: dict[tuple[str, str], str] = {}

    def start_flusher(self) -> None:
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_periodically, name="log-flush", daemon=True)
            self._flusher.start()

    @property
    def buffering(self) -> bool:
        return self._flusher is not None and not self._stop.is_set()

    def stop_flusher(self, timeout: float = 2.0) -> None:
        """Stop the periodic flush and wait for its thread: queued access lines are then written only when a
        batch fills, another line is logged, or the handler closes (``buffering`` stays false)."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout)

    def _flush_periodically(self) -> None:
        while not self._stop.wait(ACCESS_FLUSH_SECONDS):
            self.flush_access()

    def flush_access(self) -> None:
        """Write the queued access lines (the :func:`before_write` hooks) and flush the stream. Not part
        of :meth:`flush`, which ``StreamHandler.emit`` calls with this handler's lock held."""
        _run_before_write()
        self.flush()

    def write_access(self, entries: list[AccessEntry]) -> None:
        """Write access lines: the same JSON object a ``LogRecord`` would give, built directly as text in
        one loop (no record, no dict, no encoder) and written with one call."""
        stamp = self.json._clock.stamp
        to_wall = time.time() - time.perf_counter()
        fields = self._fields  # '"method":...,"route":...,' per (method, route): a bounded set
        lines = []
        for method, route, path, status, duration, rid, finished in entries:
            middle = fields.get((method, route))
            if middle is None:
                middle = fields[(method, route)] = f'"method":{_json_str(method)},"route":{_json_str(route)},'
            request_id = f'"request_id":{_json_str(rid)},' if rid is not None else ""
            lines.append(
                f'{{"ts":"{stamp(finished + to_wall)}{_ACCESS_HEAD}{request_id}{middle}'
                f'"path":{_json_str(path)},"status":{status:d},"duration_seconds":{duration:.6f}}}\n'
            )
        text = self.json.redactor.scrub("".join(lines))
        with self.lock:  # type: ignore[union-attr]
            self.stream.write(text)
            if not self.buffering:
                self.stream.flush()

    def handle(self, record: logging.LogRecord) -> bool:
        _run_before_write()  # queued access lines first; outside this handler's lock (no lock cycle)
        return bool(super().handle(record))

    def close(self) -> None:
        self._stop.set()
        self.flush_access()
        super().close()


ACCESS_FLUSH_SECONDS: Final = 0.2
ACCESS_BATCH: Final = 64  # about 16 KiB of access lines
ACCESS_LOGGER: Final = "orders_api.access"
_access = logging.getLogger(ACCESS_LOGGER)
_root = logging.getLogger()
_direct: list[JsonLineHandler] = []  # the handler installed by configure_logging, if any
_before_write: list[Callable[[], None]] = []
_ACCESS_HEAD: Final = f'","level":"info","logger":"{ACCESS_LOGGER}","msg":"request",'


def before_write(hook: Callable[[], None]) -> Callable[[], None]:
    """Run ``hook`` (which writes queued access lines) before every other line, on every periodic flush
    and at close. Returns the function that unregisters it."""
    _before_write.append(hook)
    return lambda: _before_write.remove(hook) if hook in _before_write else None


def _run_before_write() -> None:
    for hook in tuple(_before_write):
        hook()


def access_buffered() -> bool:
    """Whether access lines may wait for a batch: only when the configured handler flushes
    periodically (the server process). Otherwise (tests, ``buffer_access=False``) every request is
    written when it completes."""
    return bool(_direct) and _direct[0].buffering


def access_fields(method: str, route: str, path: str, status: int, duration: float) -> dict[str, Any]:
    """The fields of one access-log line (the ``extra`` of the ``request`` record)."""
    return {"method": method, "route": route, "path": path, "status": status, "duration_seconds": round(duration, 6)}


def log_access(entries: list[AccessEntry]) -> None:
    """Log completed requests at info level on ``orders_api.access``, in order. When the configured JSON
    handler is the only destination, the lines are written directly as one batch; otherwise (tests
    adding handlers, filters) each goes through ``logging`` as usual. Both give the same JSON object."""
    if not entries or not _access.isEnabledFor(logging.INFO):
        return
    if (
        _direct
        and not _access.handlers
        and not _access.filters
        and _access.propagate
        and len(_root.handlers) == 1
        and _root.handlers[0] is _direct[0]
        and _direct[0].level <= logging.INFO
    ):
        _direct[0].write_access(entries)
        return
    for method, route, path, status, duration, rid, _finished in entries:
        token = REQUEST_ID.set(rid)
        try:
            _access.info("request", extra=access_fields(method, route, path, status, duration))
        finally:
            REQUEST_ID.reset(token)


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
