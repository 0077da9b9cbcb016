"""ASGI middleware: request id, metrics and one JSON access-log line per request.

A plain ASGI middleware (not ``BaseHTTPMiddleware``) to keep the per-request overhead small. The
``route`` label is the matched route template (Starlette stores the route in the scope); paths that match
no route are labelled ``<unmatched>``, so raw paths never become label values.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .logs import (
    ACCESS_BATCH,
    ACCESS_LOGGER,
    REQUEST_ID,
    AccessEntry,
    access_buffered,
    access_fields,
    before_write,
    log_access,
)
from .metrics import Metrics, method_label
from .names import UNMATCHED_ROUTE

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_HEADER = b"x-request-id"
# Accepted incoming request ids: no spaces or control characters (log injection), bounded length.
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:/+=-]{1,128}$")
# Operational endpoints: not counted in the request metrics (probes and scrapes would dilute the SLIs)
# and logged at debug level only.
OPERATIONAL_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

access_log = logging.getLogger(ACCESS_LOGGER)
error_log = logging.getLogger("orders_api.errors")

# Request ids only need to be unique, not unguessable: a PRNG seeded from os.urandom is enough and
# much cheaper per request than uuid4's system call.
_ids = random.Random()  # noqa: S311

_INTERNAL_ERROR_BODY = b'{"detail":"internal server error"}'


def request_id_from(scope: Scope) -> str:
    """The client's ``X-Request-ID`` when it is well-formed, else a new random id."""
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            if _VALID_REQUEST_ID.match(value):
                return str(value.decode("ascii"))
            break
    return f"{_ids.getrandbits(128):032x}"


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class CompletedRequests:
    """Requests that completed: queued on the hot path (one ``deque.append``) and accounted in batches,
    counted into the metrics and written as access-log lines, in order.

    Accounting a batch in one tight loop costs a fraction of accounting each request between two
    others, where the interpreter's caches are cold. A batch is settled every :attr:`batch` requests,
    before the metrics registry is collected (a scrape sees every completed request), before any other
    log line, on the log handler's periodic flush and at shutdown. :attr:`batch` is 1 (every request at
    once) until :meth:`attach` finds a periodically flushed log handler, as in the server process.
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.queue: deque[AccessEntry] = deque()
        self.batch = 1
        self._lock = threading.RLock()
        self._settling = False
        self._detach: Callable[[], None] | None = None
        metrics.before_collect.append(self.settle)

    def attach(self) -> None:
        """At start-up: settle with the log handler's flushes, and batch when it flushes periodically."""
        if self._detach is None:
            self._detach = before_write(self.settle)
        self.batch = ACCESS_BATCH if access_buffered() else 1

    def detach(self) -> None:
        """At shutdown: account what is queued; from now on every request at once."""
        self.batch = 1
        self.settle()
        if self._detach is not None:
            self._detach()
            self._detach = None

    def settle(self) -> None:
        with self._lock:  # one settler at a time; a nested call (a log line written while settling) returns
            if self._settling or not self.queue:
                return
            self._settling = True
            try:
                queue = self.queue
                entries = [queue.popleft() for _ in range(len(queue))]
                self.metrics.count(entries)
                log_access(entries)
            finally:
                self._settling = False


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, completed: CompletedRequests) -> None:
        self.app = app
        self.completed = completed
        self.metrics = completed.metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        token = REQUEST_ID.set(request_id)
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = 500
        started = False

        # A plain function returning send's awaitable: no extra coroutine frame per message.
        def send_with_id(message: Message) -> Awaitable[None]:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                # a new list: the response may send the same header list again (never mutate it)
                message["headers"] = [*message.get("headers", ()), header]
            return send(message)

        path = scope.get("path", "")
        operational = path in OPERATIONAL_PATHS
        metrics = self.metrics
        if not operational:
            metrics.in_flight_count += 1
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            status = 500
            error_log.exception("unhandled error", extra={"path": scope.get("path")})
            if not started:
                await send_with_id(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(_INTERNAL_ERROR_BODY)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": _INTERNAL_ERROR_BODY})
        finally:
            duration = time.perf_counter() - start
            method = method_label(scope.get("method", ""))
            route = route_template(scope)
            if not operational:
                metrics.in_flight_count -= 1
                completed = self.completed
                completed.queue.append((method, route, path, status, duration, request_id, start + duration))
                if len(completed.queue) >= completed.batch:
                    completed.settle()
            elif access_log.isEnabledFor(logging.DEBUG):
                access_log.debug("request", extra=access_fields(method, route, path, status, duration))
            REQUEST_ID.reset(token)
