"""ASGI middleware: request id, metrics and one JSON access-log line per request.

A plain ASGI middleware (not ``BaseHTTPMiddleware``) to keep the per-request overhead small. The
``route`` label is the matched route template (Starlette stores the route in the scope); paths that match
no route are labelled ``<unmatched>``, so raw paths never become label values.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .logs import ACCESS_LOGGER, REQUEST_ID, log_access
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


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        token = REQUEST_ID.set(request_id)
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

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
                await send_with_id({"type": "http.response.start", "status": 500, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(_INTERNAL_ERROR_BODY)).encode())]})
                await send({"type": "http.response.body", "body": _INTERNAL_ERROR_BODY})
        finally:
            duration = time.perf_counter() - start
            method = method_label(scope.get("method", ""))
            route = route_template(scope)
            if not operational:
                metrics.in_flight_count -= 1
                metrics.observe(method, route, status, duration)
                log_access(method, route, path, status, duration)
            elif access_log.isEnabledFor(logging.DEBUG):
                access_log.debug("request", extra={"method": method, "route": route, "path": path,
                                                   "status": status, "duration_seconds": round(duration, 6)})
            REQUEST_ID.reset(token)

