"""The real service under real HTTP: uvicorn in a subprocess on a free 127.0.0.1 port."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.procs import free_port, wait_until

from .appserver import APP_DIR, metric_samples, running_app
from .conftest import order_body

pytestmark = pytest.mark.server

API_KEY = "server-test-key-31415"
ENV = {"APP_SECRET_API_KEY": API_KEY, "APP_VERSION": "2.0.1", "APP_COMMIT": "f00dfeed"}


def test_serves_orders_probes_metrics_and_json_logs(tmp_path: Path) -> None:
    with running_app(tmp_path, ENV) as app, httpx.Client(base_url=app.url, timeout=10) as http:
        created = http.post(
            "/orders", json=order_body(), headers={"Authorization": f"Bearer {API_KEY}", "X-Request-ID": "e2e-req-1"}
        )
        assert created.status_code == 201 and created.headers["x-request-id"] == "e2e-req-1"
        order_id = created.json()["id"]
        assert http.get(f"/orders/{order_id}").json()["id"] == order_id
        assert (
            http.post("/orders", json={"customer_id": "c"}, headers={"Authorization": f"Bearer {API_KEY}"}).status_code
            == 422
        )
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").json()["status"] == "ready"
        metrics = http.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert metric_samples(metrics.text, "app_build_info") == [({"version": "2.0.1", "commit": "f00dfeed"}, 1.0)]
        assert metric_samples(metrics.text, "orders_created_total") == [({}, 1.0)]
        assert metric_samples(metrics.text, "process_resident_memory_bytes")
    lines = app.log_lines()  # every line is a JSON object
    access = [line for line in lines if line["logger"] == "orders_api.access"]
    assert access[0]["request_id"] == "e2e-req-1" and access[0]["status"] == 201
    assert {line["level"] for line in lines} <= {"debug", "info", "warning", "error"}
    assert any(line["msg"].startswith("VAULT_ADDR is not set") for line in lines)
    assert API_KEY not in app.log_text()


def test_ten_thousand_distinct_paths_create_bounded_series(tmp_path: Path) -> None:
    with running_app(tmp_path, ENV) as app:
        conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
        for i in range(10_000):
            path = f"/orders/{uuid.uuid4()}" if i % 2 else f"/random/{i}/{uuid.uuid4().hex}"
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            assert response.status == 404
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
    requests = metric_samples(text, "http_requests_total")
    assert sorted((lab["route"], lab["status"]) for lab, _ in requests) == [
        ("/orders/{order_id}", "404"),
        ("<unmatched>", "404"),
    ]
    assert sum(v for _, v in requests) == 10_000
    histogram_series = [
        s
        for name in (
            "http_request_duration_seconds_bucket",
            "http_request_duration_seconds_sum",
            "http_request_duration_seconds_count",
        )
        for s in metric_samples(text, name)
    ]
    assert len(histogram_series) == 2 * (18 + 2)  # two routes x (17 buckets + Inf + sum + count)
    assert len(text.encode()) < 64_000  # the whole exposition stays small


def test_sigterm_finishes_in_flight_request_then_exits(tmp_path: Path) -> None:
    env = {**ENV, "FAULT_LATENCY_SECONDS": "5"}
    with running_app(tmp_path, env) as app:
        result: dict[str, object] = {}

        def slow_request() -> None:
            started = time.monotonic()
            response = httpx.get(app.url + "/orders", headers={"X-Request-ID": "slow-1"}, timeout=60)
            result.update(status=response.status_code, seconds=time.monotonic() - started)

        worker = threading.Thread(target=slow_request)
        worker.start()

        def in_flight() -> bool:
            text = httpx.get(app.url + "/metrics", timeout=2).text
            return metric_samples(text, "http_requests_in_flight") == [({}, 1.0)]

        wait_until(in_flight, 30, interval=0.05, what="the slow request to be in flight")
        os.kill(app.pid, signal.SIGTERM)

        def refused() -> bool:  # no new connections while draining
            try:
                httpx.get(app.url + "/healthz", timeout=2)
            except httpx.ConnectError:
                return True
            return False

        wait_until(refused, 4, interval=0.05, what="the listener to close after SIGTERM")
        assert worker.is_alive() and not result  # the slow request is still being served
        worker.join(60)
        assert result["status"] == 200 and float(str(result["seconds"])) >= 5.0
        proc = app.server.proc
        assert proc is not None
        # uvicorn re-raises the captured SIGTERM once shutdown is complete, so the exit status says so
        assert proc.wait(60) == -signal.SIGTERM
    msgs = [(line["logger"], line["msg"], line.get("request_id")) for line in app.log_lines()]
    served = msgs.index(("orders_api.access", "request", "slow-1"))
    assert msgs.index(("uvicorn.error", "Shutting down", None)) < served
    assert msgs.index(("orders_api", "orders-api stopped", None)) > served
    assert msgs[-1][1].startswith("Finished server process")


def test_invalid_configuration_stops_start_up_with_named_variables() -> None:
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "APP_PORT": "eighty",
        "FAULT_ERROR_RATIO": "1.5",
        "FAULT_LATENCY_SECONDS": "-2",
        "APP_SECRET_API_KEY": "k-123456",
        "APP_HOST": "127.0.0.1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "orders_api"],
        cwd=APP_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    error = json.loads(done.stderr)
    assert error["msg"] == "invalid configuration; not starting"
    assert set(error["problems"]) == {"APP_PORT", "FAULT_ERROR_RATIO", "FAULT_LATENCY_SECONDS"}
    assert "from 0 to 1" in error["problems"]["FAULT_ERROR_RATIO"]
    assert "k-123456" not in done.stderr
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)


def test_fault_injection_over_real_http(tmp_path: Path) -> None:
    with (
        running_app(tmp_path, {**ENV, "FAULT_ERROR_RATIO": "0.5", "FAULT_LATENCY_SECONDS": "0.05"}) as app,
        httpx.Client(base_url=app.url, timeout=10) as http,
    ):
        with ThreadPoolExecutor(max_workers=25) as pool:  # 25 concurrent clients
            statuses = list(pool.map(lambda _: http.get("/orders").status_code, range(400)))
        assert http.get("/healthz").status_code == 200
        text = http.get("/metrics").text
    errors = statuses.count(500)
    assert 140 <= errors <= 260, errors
    assert statuses.count(200) == 400 - errors
    counted = {lab["status"]: v for lab, v in metric_samples(text, "http_requests_total")}
    assert counted == {"500": errors, "200": 400 - errors}
    p_le_005 = [v for lab, v in metric_samples(text, "http_request_duration_seconds_bucket") if lab["le"] == "0.05"]
    assert p_le_005 == [0.0]  # every API request took at least the injected 50 ms
    assert any(line["msg"] == "fault injection is active" for line in app.log_lines())


def test_unreachable_vault_is_live_but_not_ready(tmp_path: Path) -> None:
    closed = free_port()
    env = {
        "VAULT_ADDR": f"http://127.0.0.1:{closed}",
        "VAULT_AUTH_METHOD": "token",
        "VAULT_TOKEN": "s.never-valid-token",
        "VAULT_TIMEOUT_SECONDS": "1",
    }
    with running_app(tmp_path, env) as app, httpx.Client(base_url=app.url, timeout=10) as http:
        assert http.get("/healthz").status_code == 200
        wait_until(lambda: "error" in http.get("/readyz").json()["secrets"], 30, what="a failed vault attempt")
        ready = http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["secrets"]["reason"] == "secrets not loaded from vault yet"
        assert ready.json()["secrets"]["error"] == "ConnectionError: Vault is unreachable"
        denied = http.post("/orders", json=order_body(), headers={"Authorization": "Bearer x"})
        assert denied.status_code == 503
    assert "s.never-valid-token" not in app.log_text()
