"""End to end: the real app under load -> real Prometheus (rendered scrape + rules) -> real Alertmanager
(rendered config) -> a webhook receiver run by the test.

With 10 % injected errors the error-ratio SLI exceeds 0.05 and HighErrorRatio reaches the webhook; with
1 % errors it never does. The rules are the orders API's per-service group (``service_rule_group`` of its
definition in services/orders-api/), so the scrape's ``service`` label and the SLI contract are exercised.
Only builder parameters the stacks also set are shortened: scrape and evaluation intervals (the fast
window and ``for`` are 4 evaluations) and Alertmanager's group timings. The pod is discovered through
``file_sd_configs`` carrying the labels Kubernetes SD would give it, at the app's loopback address.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from components import conventions as cv
from components.monitoring import names
from components.monitoring.alertmanager import alertmanager_config
from components.monitoring.rules import DEFAULT_RUNBOOK_BASE_URL
from components.monitoring.scrape import prometheus_config
from components.monitoring.service import fast_for, fast_window, service_rule_group, sli_error_ratio
from components.service.load import load_services
from tests.app.appserver import running_app
from tests.monitoring.promsupport import (
    Alertmanager,
    Container,
    Pod,
    Prometheus,
    WebhookReceiver,
    pod_targets,
    swap_discovery,
    write_rules,
)
from tests.support.procs import wait_until

ROOT = Path(__file__).resolve().parents[2]
SCRAPE_INTERVAL = "1s"
EVALUATION_INTERVAL = "1s"
GROUP_WAIT = "1s"
NAMESPACE = "web"
APP = "orders-api"
QUIET_WINDOW_S = 40.0  # the 1 % run watches longer than the 10 % run needs to alert


@dataclass
class Load:
    first_error_at: float | None = None  # time.monotonic()
    first_error_wall: float | None = None  # time.time(), to compare with Prometheus' activeAt
    requests: int = 0
    errors: int = 0


@contextmanager
def load(port: int, threads: int = 6) -> Iterator[Load]:
    """Keep-alive GET /orders from ``threads`` threads until the block exits."""
    stats = Load()
    stop = threading.Event()
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        while not stop.is_set():
            try:
                conn.request("GET", "/orders")
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                continue
            now = time.monotonic()
            with lock:
                stats.requests += 1
                if status >= 500:
                    stats.errors += 1
                    if stats.first_error_at is None:
                        stats.first_error_at = now
                        stats.first_error_wall = time.time()
        conn.close()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    try:
        yield stats
    finally:
        stop.set()
        for t in pool:
            t.join(timeout=10)


@contextmanager
def app_server(tmp: Path, error_ratio: float) -> Iterator[int]:
    """The real app (shared starter, as in the app tests) with ``error_ratio`` injected; yields its port."""
    env = {"APP_LOG_LEVEL": "warning", "APP_SECRET_API_KEY": "e2e-test-value", "FAULT_ERROR_RATIO": str(error_ratio)}
    with running_app(tmp, env, ready_path="/readyz") as app:
        yield app.port


@pytest.mark.server
@pytest.mark.realtime
@pytest.mark.tools
@pytest.mark.parametrize(("error_ratio", "expect_alert"), [(0.10, True), (0.01, False)], ids=["10pct", "1pct"])
def test_error_ratio_alert_reaches_the_webhook(tmp_path: Path, error_ratio: float, expect_alert: bool) -> None:
    with WebhookReceiver() as hook, app_server(tmp_path, error_ratio) as app_port:
        am_cfg = alertmanager_config(
            extra_webhooks={"e2e": hook.url}, group_wait=GROUP_WAIT, group_interval=GROUP_WAIT, repeat_interval="1h"
        )
        with Alertmanager(am_cfg, tmp_path) as am:
            rules_dir = tmp_path / "rules"
            spec = load_services({APP: {}})[0]
            group = service_rule_group(
                spec, runbook_base_url=DEFAULT_RUNBOOK_BASE_URL, evaluation_interval=EVALUATION_INTERVAL
            )
            write_rules({"service.yaml": {"groups": [group]}}, rules_dir)
            app_pod = Pod(
                f"{APP}-6f7d9cbb85-e2e",
                NAMESPACE,
                "127.0.0.1",
                [Container("app", [("http", app_port)])],
                labels={cv.LABEL_APP: APP, cv.LABEL_NAME: APP, cv.ROLLOUTS_HASH_POD_LABEL: "6f7d9cbb85"},
                annotations={cv.ANNOTATION_SCRAPE: "true", cv.ANNOTATION_PORT: str(app_port)},
            )
            am_pod = Pod(
                "alertmanager-0",
                cv.NS_MONITORING,
                "127.0.0.1",
                [Container("alertmanager", [(names.ALERTMANAGER_PORT_NAME, am.port)])],
                labels={cv.LABEL_NAME: names.ALERTMANAGER},
            )
            prom_cfg = swap_discovery(
                prometheus_config(scrape_interval=SCRAPE_INTERVAL, evaluation_interval=EVALUATION_INTERVAL),
                tmp_path,
                {names.ANNOTATED_PODS_JOB: pod_targets(app_pod)},
                alertmanager_groups=pod_targets(am_pod),
                rules_dir=rules_dir,
            )
            with Prometheus(prom_cfg, tmp_path) as prom:
                wait_until(
                    lambda: prom.query(f'up{{job="{names.ANNOTATED_PODS_JOB}"}} == 1') != [],
                    timeout=30,
                    what="the app to be scraped",
                )
                wait_until(
                    lambda: len(prom.api("alertmanagers")["activeAlertmanagers"]) == 1,
                    timeout=30,
                    what="Alertmanager discovery",
                )

                def alert_delivered() -> bool:
                    return any(a["labels"]["alertname"] == "HighErrorRatio" for _, a in hook.alerts())

                with load(app_port) as stats:
                    wait_until(lambda: stats.first_error_at is not None, timeout=30, what="a first injected error")
                    assert stats.first_error_at is not None
                    if expect_alert:
                        wait_until(alert_delivered, timeout=120, interval=0.05, what="HighErrorRatio at the webhook")
                        rule_alerts = [
                            a for a in prom.api("alerts")["alerts"] if a["labels"]["alertname"] == "HighErrorRatio"
                        ]
                    else:
                        time.sleep(QUIET_WINDOW_S)
                    window = fast_window(EVALUATION_INTERVAL)
                    ratio = prom.query(f'{sli_error_ratio(window)}{{namespace="{NAMESPACE}", service="{APP}"}}')
                    pending_or_firing = prom.query('ALERTS{alertname="HighErrorRatio"}')
                observed = stats.errors / max(stats.requests, 1)

    assert len(ratio) == 1, ratio
    recorded = float(ratio[0]["value"][1])
    report = {
        "injected": error_ratio,
        "observed_by_client": round(observed, 4),
        "recorded_sli": round(recorded, 4),
        "requests": stats.requests,
        "scrape_interval": SCRAPE_INTERVAL,
        "evaluation_interval": EVALUATION_INTERVAL,
        "for": fast_for(EVALUATION_INTERVAL),
        "group_wait": GROUP_WAIT,
    }
    if expect_alert:
        assert recorded > cv.ERROR_RATIO_OBJECTIVE
        (arrived, alert), *_ = [(t, a) for t, a in hook.alerts() if a["labels"]["alertname"] == "HighErrorRatio"]
        assert alert["labels"]["severity"] == "critical"
        assert alert["labels"]["namespace"] == NAMESPACE and alert["labels"]["service"] == APP
        assert alert["annotations"]["runbook_url"].endswith("MONITORING_GUIDE.md#higherrorratio")
        report["seconds_first_error_to_webhook"] = round(arrived - stats.first_error_at, 2)
        (rule_alert,) = rule_alerts
        active_at = datetime.fromisoformat(rule_alert["activeAt"].replace("Z", "+00:00")).timestamp()
        assert stats.first_error_wall is not None
        report["seconds_first_error_to_pending"] = round(active_at - stats.first_error_wall, 2)
    else:
        assert 0 < recorded < cv.ERROR_RATIO_OBJECTIVE
        assert pending_or_firing == []
        assert [a for _, a in hook.alerts() if a["labels"]["alertname"] == "HighErrorRatio"] == []
        report["watched_seconds"] = QUIET_WINDOW_S
    print("E2E", json.dumps(report))  # the measured figures for the closing note (pytest -s)
