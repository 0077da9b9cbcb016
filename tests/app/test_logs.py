"""JSON log lines: the configured handler's direct access-line path, the logging path, redaction."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Callable, Iterator
from unittest.mock import patch

import pytest
from fastapi.testclient import TestClient

from app.orders_api.api import create_app
from app.orders_api.logs import ACCESS_BATCH, REDACTED, JsonLineHandler, Redactor, configure_logging
from tests.support.procs import wait_until

from .conftest import API_KEY, LogCapture, auth, make_settings, order_body


@pytest.fixture
def configured() -> Iterator[io.StringIO]:
    """configure_logging() as the server does, onto a buffer; the root logger is restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    configured_handler = configure_logging("info", stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    configured_handler.close()
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


@contextlib.contextmanager
def direct_path() -> Iterator[JsonLineHandler]:
    """Detach pytest's own capture handlers for a moment, so that the configured JSON handler is the
    only one on the root logger, as in the server process: access lines then take the direct path."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, JsonLineHandler)]
    others = [h for h in root.handlers if not isinstance(h, JsonLineHandler)]
    assert len(ours) == 1
    for handler in others:
        root.removeHandler(handler)
    try:
        yield ours[0]
    finally:
        for handler in others:
            root.addHandler(handler)


def drive(client: TestClient) -> None:
    client.post("/orders", json=order_body(), headers={**auth(), "X-Request-ID": "fast-1"})
    client.get(f"/orders/{API_KEY}", headers={"X-Request-ID": "fast-2"})
    # the ASGI path is percent-decoded: /weird/"quoted"/\back<TAB>tab/é
    client.get("/weird/%22quoted%22/%5Cback%09tab/%C3%A9", headers={"X-Request-ID": "fast-3"})


def access_lines(text: str) -> list[dict[str, object]]:
    parsed = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [p for p in parsed if p["logger"] == "orders_api.access"]


def test_direct_access_lines_equal_logging_lines(
    configured: io.StringIO, json_logs: Callable[[str], LogCapture]
) -> None:
    with TestClient(create_app(make_settings())) as client:
        with direct_path() as handler, patch.object(handler, "write_access", wraps=handler.write_access) as spy:
            drive(client)
            handler.flush_access()
        assert sum(len(call.args[0]) for call in spy.call_args_list) == 3
        direct = access_lines(configured.getvalue())
        capture = json_logs("info")  # a second handler: lines go through logging.Logger
        drive(client)
        handler.flush_access()
        via_logging = access_lines(capture.text())
    assert len(direct) == len(via_logging) == 3
    assert direct[2]["path"] == '/weird/"quoted"/\\back\ttab/é'

    def comparable(line: dict[str, object]) -> dict[str, object]:
        return {k: v for k, v in line.items() if k not in {"ts", "duration_seconds"}}

    assert [comparable(x) for x in direct] == [comparable(x) for x in via_logging]
    assert list(direct[0]) == list(via_logging[0])  # same keys in the same order
    assert direct[0]["request_id"] == "fast-1" and direct[1]["path"] == f"/orders/{REDACTED}"
    assert API_KEY not in configured.getvalue()


def test_access_lines_are_batched_but_flushed_in_order(configured: io.StringIO) -> None:
    with TestClient(create_app(make_settings())) as client, direct_path() as handler:
        client.get("/orders", headers={"X-Request-ID": "batched-1"})
        wait_until(lambda: "batched-1" in configured.getvalue(), 2, interval=0.02, what="the periodic flush")
        handler.stop_flusher()  # no periodic flush from here on: what follows is deterministic
        assert not handler.buffering
        client.get("/orders", headers={"X-Request-ID": "batched-2"})
        assert "batched-2" not in configured.getvalue()  # still buffered
        logging.getLogger("orders_api").info("an ordinary line")  # writes what is pending first
        tail = configured.getvalue().splitlines()[-2:]
        assert json.loads(tail[0])["request_id"] == "batched-2"
        assert json.loads(tail[1])["msg"] == "an ordinary line"
        before = configured.getvalue().count('"/x/x')
        for _ in range(ACCESS_BATCH):  # a full batch is written without waiting for a flush
            client.get("/x" * 40)
        assert configured.getvalue().count('"/x/x') - before == ACCESS_BATCH


def test_a_scrape_counts_every_queued_request(configured: io.StringIO) -> None:
    with TestClient(create_app(make_settings())) as client, direct_path() as handler:
        handler.stop_flusher()  # no periodic flush: requests stay queued until something settles them
        for n in range(5):
            client.get("/orders", headers={"X-Request-ID": f"queued-{n}"})
        assert not access_lines(configured.getvalue())
        scraped = client.get("/metrics").text
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in scraped.splitlines()
        if line.startswith('http_requests_total{method="GET",route="/orders",status="200"}')
    )
    assert counted == 5
    assert [line["request_id"] for line in access_lines(configured.getvalue())] == [f"queued-{n}" for n in range(5)]


def test_every_configured_line_is_json_with_timestamp(configured: io.StringIO) -> None:
    logging.getLogger("orders_api.test").warning("with fields", extra={"answer": 42})
    line = json.loads(configured.getvalue().splitlines()[-1])
    assert line["level"] == "warning" and line["answer"] == 42 and line["msg"] == "with fields"
    assert line["ts"].endswith("Z") and len(line["ts"]) == len("2026-01-01T00:00:00.000Z")


def test_redactor_handles_json_escaping_and_overlaps() -> None:
    redactor = Redactor()
    redactor.add('pa"ss\\word', "abcd", "abcdefgh", None, "ab")
    line = json.dumps({"msg": 'pa"ss\\word abcdefgh abcd ab'})
    scrubbed = redactor.scrub(line)
    assert json.loads(scrubbed)["msg"] == f"{REDACTED} {REDACTED} {REDACTED} ab"  # "ab": too short to redact
