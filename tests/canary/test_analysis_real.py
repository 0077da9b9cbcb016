"""The canary analysis against real data: Debian's Prometheus scrapes the real orders-api under load and
records the monitoring SLI rules (components/monitoring/rules.py, for the dashboards; the analysis reads
the raw counters over its own window); the AnalysisTemplate the stacks render is evaluated there
exactly as written (after argument substitution) with Argo's semantics
(tests/canary/analysis_eval.py). Intervals are shortened through the same builder parameters.

- 0 % injected errors: every measurement succeeds, with real data (not an empty vector).
- No request yet: past the warm-up (initialDelay) the canary must have served min_requests in the
  window; the faulty canary's load starts with the analysis, like a canary step.
- FAULT_ERROR_RATIO=0.1: measurements fail, failureLimit is exceeded, the Rollout would abort; the time
  from the canary's first request to that decision stays within ``specs.abort_budget``.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components import conventions as cv
from components.canary import monitoring as canary_monitoring
from components.canary import specs
from components.monitoring.dashboards.common import collect_promql
from components.monitoring.rules import sli_recording_rules
from tests.app.appserver import AppProcess
from tests.canary import analysis_eval as ae
from tests.canary.support import stack_delivery, stack_service, stack_settings
from tests.monitoring.promsupport import PROMTOOL, Prometheus, promql_errors, run_tool, write_rules
from tests.support.procs import wait_until

# realtime: Prometheus must scrape and evaluate on time while the test drives load; `make test` runs these
# after the parallel run, alone (see pyproject.toml).
pytestmark = [pytest.mark.server, pytest.mark.realtime]

NAMESPACE = "web"
APP = "orders-api"
API_KEY = "canary-test-key-4c2b9e"
SCRAPE = "1s"
EVALUATION = "1s"
INTERVAL = "2s"
FAILURE_LIMIT = 1


def delivery(strategy: str = "canary") -> specs.DeliveryInput:
    """The stacks' builder with test-sized durations (a pause of 10 s measured every 2 s)."""
    return specs.DeliveryInput(
        app=APP,
        namespace=NAMESPACE,
        strategy=strategy,
        weights=(20, 50, 80),
        pause="10s",
        analysis_interval=INTERVAL,
        failure_limit=FAILURE_LIMIT,
        preview_service=f"{APP}-preview" if strategy == "blueGreen" else "",
        progress_deadline_seconds=30,
        scrape_interval=SCRAPE,
    )


def prometheus_config(app_port: int, canary_hash: str, rules: Path) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": SCRAPE, "evaluation_interval": EVALUATION},
        "rule_files": [str(rules / "*.yaml")],
        "scrape_configs": [
            {
                "job_name": "orders-api",
                "scrape_interval": SCRAPE,
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{app_port}"],
                        "labels": {
                            # what the kubernetes-pods job copies from the pod: namespace, app, the Argo hash label
                            "namespace": NAMESPACE,
                            cv.LABEL_APP: APP,
                            cv.ROLLOUTS_HASH_SERIES_LABEL: canary_hash,
                        },
                    }
                ],
            }
        ],
    }


class Load:
    """Threads sending authenticated GET /orders to the app over keep-alive connections (loopback)."""

    def __init__(self, port: int, threads: int = 6) -> None:
        self.port = port
        self.stop = threading.Event()
        self.sent = 0
        self.statuses: dict[int, int] = {}
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        headers = {"Authorization": f"Bearer {API_KEY}"}
        while not self.stop.is_set():
            try:
                conn.request("GET", "/orders?limit=5", headers=headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                continue
            with self._lock:
                self.sent += 1
                self.statuses[status] = self.statuses.get(status, 0) + 1
            time.sleep(0.002)
        conn.close()

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)


@contextlib.contextmanager
def stack(tmp_path: Path, *, error_ratio: float, canary_hash: str) -> Iterator[tuple[Prometheus, AppProcess]]:
    rules = tmp_path / "rules"
    write_rules(
        {"sli.yaml": {"groups": [{"name": "sli", "interval": EVALUATION, "rules": sli_recording_rules()}]}}, rules
    )
    check = run_tool([PROMTOOL, "check", "rules", str(rules / "sli.yaml")])
    assert check.returncode == 0, check.stdout + check.stderr
    app = AppProcess(
        tmp_path, {"APP_SECRET_API_KEY": API_KEY, "FAULT_ERROR_RATIO": str(error_ratio), "APP_VERSION": canary_hash}
    )
    with Prometheus(prometheus_config(app.port, canary_hash, rules), tmp_path) as prom:
        try:
            app.start(ready_path="/readyz")
            yield prom, app
        finally:
            app.stop()


def _sli(prom: Prometheus, canary_hash: str) -> list[dict[str, Any]]:
    return prom.query(f'{cv.SLI_ERROR_RATIO_BY_HASH}{{{cv.ROLLOUTS_HASH_SERIES_LABEL}="{canary_hash}"}}')


def test_healthy_canary_every_measurement_succeeds(tmp_path: Path) -> None:
    canary_hash = "6d4f8b7c9a"
    inp = delivery("blueGreen")
    template = specs.analysis_template(inp)  # count = (held) pause / interval + 1
    count = specs.analysis_count(inp)
    with stack(tmp_path, error_ratio=0.0, canary_hash=canary_hash) as (prom, app), Load(app.port) as load:
        wait_until(lambda: bool(_sli(prom, canary_hash)), timeout=60, what="the canary's SLI series")
        outcome = ae.run_analysis(template, {ae_arg(): canary_hash}, address=prom.url)
        sent, statuses = load.sent, dict(load.statuses)
    print(outcome.summary())
    assert statuses.get(200, 0) > 100 and set(statuses) == {200}, statuses
    assert outcome.phase == ae.SUCCESSFUL and not outcome.would_abort, outcome.summary()
    for name in (specs.METRIC_ERROR_RATIO, specs.METRIC_LATENCY_P95):
        ms = outcome.metrics[name]
        assert len(ms) == count and all(m.phase == ae.SUCCESSFUL for m in ms), outcome.summary()
        assert all(isinstance(m.value, list) and len(m.value) == 1 for m in ms), outcome.summary()
    assert all(m.value[0] == 0 for m in outcome.metrics[specs.METRIC_ERROR_RATIO])
    assert all(0 < m.value[0] < 0.5 for m in outcome.metrics[specs.METRIC_LATENCY_P95])
    assert sent > 0


def ae_arg() -> str:
    return specs.ARG_CANARY_HASH


def test_faulty_canary_fails_and_aborts_within_budget(tmp_path: Path) -> None:
    canary_hash = "7f9c2d1e3b"
    template = specs.analysis_template(delivery("canary"))
    budget = specs.abort_budget(
        scrape_interval=SCRAPE,
        evaluation_interval=EVALUATION,
        analysis_interval=INTERVAL,
        failure_limit=FAILURE_LIMIT,
        controller_reaction_seconds=0,
    )
    with stack(tmp_path, error_ratio=0.1, canary_hash=canary_hash) as (prom, app):
        # In a cluster Prometheus discovers the canary pod when it is created, before it is ready and gets
        # traffic; here: wait until the target is scraped (Prometheus batches discovery updates for 5 s).
        wait_until(lambda: bool(prom.query('up{job="orders-api"} == 1')), timeout=60, what="target scraped")
        # Background analysis starts with the canary step, before the canary has served a request.
        with Load(app.port) as load:
            outcome = ae.run_analysis(template, {specs.ARG_CANARY_HASH: canary_hash}, address=prom.url)
            first_request = outcome.started
        statuses = dict(load.statuses)
    print(outcome.summary())
    print(f"decided {outcome.decided_at:.1f} s after the first request; budget {budget.as_dict()}")
    assert statuses.get(500, 0) > 0 and statuses.get(200, 0) > 0, statuses
    ratio = statuses[500] / (statuses[500] + statuses[200])
    assert 0.06 < ratio < 0.14, statuses
    assert outcome.phase == ae.FAILED and outcome.would_abort, outcome.summary()
    errors = outcome.metrics[specs.METRIC_ERROR_RATIO]
    failed = [m for m in errors if m.phase == ae.FAILED]
    assert len(failed) == FAILURE_LIMIT + 1, outcome.summary()
    assert all(m.value and m.value[0] >= 0.05 for m in failed)
    assert outcome.metric_phases[specs.METRIC_ERROR_RATIO] == ae.FAILED
    assert "failed (2) > failureLimit (1)" in outcome.message
    # the latency objective still holds: only the error ratio condemns this canary
    assert all(m.phase == ae.SUCCESSFUL for m in outcome.metrics[specs.METRIC_LATENCY_P95])
    assert outcome.decided_at is not None and first_request > 0
    # 1.5 s for the measurement queries and thread scheduling on this machine
    assert outcome.decided_at <= budget.total + 1.5, (outcome.decided_at, budget.as_dict())


def test_rendered_queries_and_rules_are_valid_promql(tmp_path: Path) -> None:
    """Every PromQL of the AnalysisTemplate (substituted), the alerts and the dashboard parses in the real
    Prometheus, and promtool accepts the rule group."""
    for stack_name in ("dev", "prod"):
        settings = stack_settings(stack_name)
        inp = stack_delivery(stack_name)
        metrics = ae.prepare_metrics(specs.analysis_template(inp), {specs.ARG_CANARY_HASH: "abc123"})
        addons = canary_monitoring.monitoring_addons(settings, [stack_service(stack_name)])
        exprs = [m["provider"]["prometheus"]["query"] for m in metrics]
        exprs += [r["expr"] for g in addons.rule_groups for r in g["rules"]]
        for dash in addons.dashboards:
            exprs += collect_promql(dash.json)
        assert not any("{{args." in e for e in exprs)
        rules = tmp_path / stack_name
        paths = write_rules({"canary.yaml": {"groups": list(addons.rule_groups)}}, rules)
        check = run_tool([PROMTOOL, "check", "rules", *map(str, paths)])
        assert check.returncode == 0, check.stdout + check.stderr
        prom_dir = tmp_path / f"prometheus-{stack_name}"
        prom_dir.mkdir()
        with Prometheus({"global": {"scrape_interval": "15s"}, "scrape_configs": []}, prom_dir) as prom:
            assert promql_errors(prom, exprs) == {}
    assert math.isfinite(specs.ABORT_BUDGET_SECONDS)
