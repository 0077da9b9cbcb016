"""Fixtures for the orders-api tests: settings, an ASGI client, captured JSON logs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.orders_api.api import create_app
from app.orders_api.logs import JsonFormatter
from app.orders_api.settings import Settings, load_settings

API_KEY = "unit-test-api-key-7d1f0c"
BASE_ENV = {"APP_SECRET_API_KEY": API_KEY, "APP_VERSION": "1.4.2", "APP_COMMIT": "abc1234"}


def make_settings(**env: str) -> Settings:
    return load_settings({**BASE_ENV, **env})


class LogCapture:
    """JSON lines written by the app's formatter through the root logger."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        """The app's own lines (the test client's httpx logger is left out)."""
        parsed = [json.loads(line) for line in self.text().splitlines() if line.strip()]
        return [p for p in parsed if p["logger"].startswith("orders_api")]


@pytest.fixture
def json_logs() -> Iterator[Callable[[str], LogCapture]]:
    """``json_logs("debug")`` attaches the app's JSON formatter to the root logger at that level."""
    root = logging.getLogger()
    saved = root.level
    handlers: list[logging.Handler] = []

    def attach(level: str = "info") -> LogCapture:
        capture = LogCapture()
        handler = logging.StreamHandler(capture.stream)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.setLevel(level.upper())
        handlers.append(handler)
        return capture

    yield attach
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(saved)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(make_settings())) as test_client:
        yield test_client


def auth(key: str = API_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def order_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": "cust-1",
        "currency": "EUR",
        "items": [{"sku": "BOOK-42", "quantity": 2, "unit_price_cents": 1250}],
    }
    body.update(overrides)
    return body
