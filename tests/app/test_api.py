"""The API through the ASGI client: orders domain, probes, metrics labels, request ids, faults, logs."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.orders_api.api import create_app

from .conftest import API_KEY, LogCapture, auth, make_settings, order_body


def samples(client: TestClient, name: str) -> list[tuple[dict[str, str], float]]:
    text = client.get("/metrics").text
    out = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out.append((dict(sample.labels), sample.value))
    return out


def value(client: TestClient, name: str, **labels: str) -> float:
    return sum(v for lab, v in samples(client, name) if all(lab.get(k) == x for k, x in labels.items()))


def test_create_get_list_cancel(client: TestClient) -> None:
    created = client.post("/orders", json=order_body(), headers=auth())
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["total_cents"] == 2500 and order["status"] == "created"
    assert created.headers["location"] == f"/orders/{order['id']}"
    assert client.get(f"/orders/{order['id']}").json() == order
    client.post("/orders", json=order_body(customer_id="cust-2"), headers=auth())
    page = client.get("/orders", params={"limit": 1}).json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["items"][0]["customer_id"] == "cust-2"
    assert client.get("/orders", params={"customer_id": "cust-1"}).json()["total"] == 1
    cancelled = client.post(f"/orders/{order['id']}/cancel", headers=auth())
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = client.post(f"/orders/{order['id']}/cancel", headers=auth())
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]
    assert value(client, "orders_created_total") == 2


def test_validation_errors_name_fields(client: TestClient) -> None:
    bad = order_body(currency="JPY", items=[{"sku": "x", "quantity": 0, "unit_price_cents": 1}], extra=1)
    response = client.post("/orders", json=bad, headers=auth())
    assert response.status_code == 422
    locations = {tuple(e["loc"]) for e in response.json()["detail"]}
    assert {
        ("body", "currency"),
        ("body", "items", 0, "sku"),
        ("body", "items", 0, "quantity"),
        ("body", "extra"),
    } <= locations
    assert client.get("/orders/not-a-uuid").status_code == 422
    assert client.get("/orders", params={"limit": 0}).status_code == 422
    assert client.get(f"/orders/{uuid.uuid4()}").status_code == 404
    assert client.post(f"/orders/{uuid.uuid4()}/cancel", headers=auth()).status_code == 404


def test_writes_need_the_api_key(client: TestClient) -> None:
    assert client.post("/orders", json=order_body()).status_code == 401
    wrong = client.post("/orders", json=order_body(), headers=auth("wrong-key"))
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    basic = client.post("/orders", json=order_body(), headers={"Authorization": f"Basic {API_KEY}"})
    assert basic.status_code == 401
    assert API_KEY not in wrong.text


def test_previous_key_accepted_during_rotation() -> None:
    settings = make_settings(APP_SECRET_API_KEY_PREVIOUS="the-old-key-1234")
    with TestClient(create_app(settings)) as client:
        assert client.post("/orders", json=order_body(), headers=auth("the-old-key-1234")).status_code == 201
        assert client.post("/orders", json=order_body(), headers=auth()).status_code == 201


def test_probes(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "secrets": {"source": "env", "keys": ["api_key"]}}
    assert API_KEY not in ready.text


def test_metrics_use_route_templates_and_bounded_labels(client: TestClient) -> None:
    ids = [str(uuid.uuid4()) for _ in range(5)]
    for order_id in ids:
        client.get(f"/orders/{order_id}")
    for i in range(5):
        client.get(f"/no/such/path/{i}")
    client.request("BREW", "/orders")
    client.get("/healthz")
    client.get("/readyz")
    series = samples(client, "http_requests_total")
    routes = {lab["route"] for lab, _ in series}
    assert routes == {"/orders/{order_id}", "<unmatched>", "/orders"}
    assert value(client, "http_requests_total", route="/orders/{order_id}", status="404", method="GET") == 5
    assert value(client, "http_requests_total", route="<unmatched>", status="404") == 5
    assert value(client, "http_requests_total", method="OTHER", route="/orders", status="405") == 1
    assert not any(i in client.get("/metrics").text for i in ids)
    buckets = [
        lab["le"]
        for lab, _ in samples(client, "http_request_duration_seconds_bucket")
        if lab["route"] == "/orders/{order_id}"
    ]
    assert buckets == [
        "0.005",
        "0.01",
        "0.025",
        "0.05",
        "0.1",
        "0.2",
        "0.3",
        "0.4",
        "0.45",
        "0.5",
        "0.55",
        "0.6",
        "0.75",
        "1.0",
        "2.5",
        "5.0",
        "10.0",
        "+Inf",
    ]
    assert samples(client, "app_build_info") == [({"version": "1.4.2", "commit": "abc1234"}, 1.0)]
    assert samples(client, "http_requests_in_flight") == [({}, 0.0)]
    assert not samples(client, "http_requests_created")  # no *_created series


def test_request_id_accepted_generated_and_sanitised(
    client: TestClient, json_logs: Callable[[str], LogCapture]
) -> None:
    logs = json_logs("info")
    given = client.get("/orders", headers={"X-Request-ID": "req-abc.123"})
    assert given.headers["x-request-id"] == "req-abc.123"
    generated = client.get("/orders")
    assert len(generated.headers["x-request-id"]) == 32
    hostile = client.get("/orders", headers={"X-Request-ID": 'x" injected\tvalue'})
    assert hostile.headers["x-request-id"] != 'x" injected\tvalue'
    access = [line for line in logs.lines() if line["logger"] == "orders_api.access"]
    assert [a["request_id"] for a in access] == [
        "req-abc.123",
        generated.headers["x-request-id"],
        hostile.headers["x-request-id"],
    ]
    first = access[0]
    assert {"ts", "level", "msg", "request_id", "method", "route", "status", "duration_seconds"} <= set(first)
    assert (first["route"], first["status"], first["level"]) == ("/orders", 200, "info")
    assert first["ts"].endswith("Z")


def test_probes_and_scrapes_are_debug_only_and_not_counted(
    client: TestClient, json_logs: Callable[[str], LogCapture]
) -> None:
    logs = json_logs("info")
    client.get("/healthz")
    client.get("/readyz")
    assert logs.lines() == []
    assert value(client, "http_requests_total") == 0


def test_secrets_never_logged_even_at_debug(json_logs: Callable[[str], LogCapture]) -> None:
    logs = json_logs("debug")
    settings = make_settings(APP_SECRET_DATABASE_URL="postgres://orders:db-pass-9f8e@db/orders")
    with TestClient(create_app(settings)) as client:
        client.post("/orders", json=order_body(), headers=auth())
        client.post("/orders", json=order_body(), headers=auth(API_KEY + "x"))
        client.get(f"/orders/{API_KEY}")  # a secret in a path is redacted too
        client.get("/readyz")
    text = logs.text()
    assert "db-pass-9f8e" not in text and API_KEY not in text
    assert "[REDACTED]" in text  # the path above
    assert "reading secrets from APP_SECRET_* environment variables" in text
    assert '"secret_keys":["api_key","database_url"]' in text


def test_fault_error_ratio_applies_to_api_only() -> None:
    settings = make_settings(FAULT_ERROR_RATIO="1")
    with TestClient(create_app(settings)) as client:
        failed = client.get("/orders")
        assert failed.status_code == 500 and "injected fault" in failed.json()["detail"]
        assert client.post("/orders", json=order_body(), headers=auth()).status_code == 500
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert value(client, "http_requests_total", route="/orders", status="500") == 2


def test_fault_error_ratio_is_a_fraction() -> None:
    settings = make_settings(FAULT_ERROR_RATIO="0.3")
    with TestClient(create_app(settings, rng=random.Random(7))) as client:
        statuses = [client.get("/orders").status_code for _ in range(1000)]
    errors = statuses.count(500)
    assert set(statuses) == {200, 500}
    assert 240 <= errors <= 360, errors  # 0.3 +- 6 sigma-ish bound for n = 1000


def test_fault_latency_is_added() -> None:
    settings = make_settings(FAULT_LATENCY_SECONDS="0.2")
    with TestClient(create_app(settings)) as client:
        start = time.perf_counter()
        assert client.get("/orders").status_code == 200
        slow = time.perf_counter() - start
        start = time.perf_counter()
        client.get("/healthz")
        fast = time.perf_counter() - start
    assert slow >= 0.2 and fast < 0.2


def test_instrumentation_off_has_no_request_metrics_or_access_logs(json_logs: Callable[[str], LogCapture]) -> None:
    logs = json_logs("info")
    with TestClient(create_app(make_settings(APP_INSTRUMENTATION="off"))) as client:
        assert client.get("/orders").status_code == 200
        assert value(client, "http_requests_total") == 0
        assert "x-request-id" not in client.get("/orders").headers
    assert not [line for line in logs.lines() if line["logger"] == "orders_api.access"]


def test_unhandled_error_is_a_logged_500_with_request_id(json_logs: Callable[[str], LogCapture]) -> None:
    logs = json_logs("info")
    app = create_app(make_settings())

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Request-ID": "boom-1"})
        assert response.status_code == 500 and response.headers["x-request-id"] == "boom-1"
        assert value(client, "http_requests_total", route="/boom", status="500") == 1
    errors = [line for line in logs.lines() if line["logger"] == "orders_api.errors"]
    assert errors and errors[0]["request_id"] == "boom-1" and "kaboom" in errors[0]["exc"]
