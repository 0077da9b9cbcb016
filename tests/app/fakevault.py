"""A recording stand-in for Vault's HTTP API at the transport level (requests adapter).

hvac runs unchanged on top of it; nothing leaves the process. Each route is ``(METHOD, path)`` mapped to
a handler returning ``(status, json body)``; ``down = True`` makes every request a connection error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import hvac
import requests
from requests.adapters import BaseAdapter

ADDR = "http://vault.vault.svc:8200"


@dataclass
class Call:
    method: str
    path: str
    body: dict[str, Any] | None
    token: str | None


Handler = Callable[[Call], tuple[int, dict[str, Any]]]


class FakeVault(BaseAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self.routes: dict[tuple[str, str], Handler] = {}
        self.down = False

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:  # type: ignore[override]
        if self.down:
            raise requests.exceptions.ConnectionError("connection refused (fake)")
        url = str(request.url)
        assert url.startswith(ADDR), url
        path = url[len(ADDR) :].split("?")[0]
        raw = request.body
        body = json.loads(raw) if raw else None
        call = Call(str(request.method), path, body, request.headers.get("X-Vault-Token"))
        self.calls.append(call)
        handler = self.routes.get((call.method, path))
        status, payload = handler(call) if handler else (404, {"errors": []})
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(payload).encode()
        response.headers["Content-Type"] = "application/json"
        response.url = url
        response.request = request
        return response

    def close(self) -> None:
        return None

    def client(self) -> hvac.Client:
        session = requests.Session()
        session.mount("http://", self)
        return hvac.Client(url=ADDR, session=session)

    def paths(self) -> list[str]:
        return [f"{c.method} {c.path}" for c in self.calls]


def login_ok(token: str, ttl: int = 3600, renewable: bool = True) -> Handler:
    def handler(_: Call) -> tuple[int, dict[str, Any]]:
        return 200, {
            "auth": {
                "client_token": token,
                "lease_duration": ttl,
                "renewable": renewable,
                "policies": ["default", "orders-api"],
                "accessor": "acc",
            }
        }

    return handler


def kv_ok(data: dict[str, Any], version: int = 1) -> Handler:
    def handler(call: Call) -> tuple[int, dict[str, Any]]:
        if call.token is None:
            return 403, {"errors": ["permission denied"]}
        return 200, {"data": {"data": data, "metadata": {"version": version, "deletion_time": "", "destroyed": False}}}

    return handler
