"""Every query of the SLO, application and cost dashboards returns data from a real Prometheus fed by the rendered
scrape job (relabeling included) and the service's rendered rule group: parsing is not enough, an empty
panel is how the rollout-namespace bug went unnoticed.

A fake exporter plays the orders API (its own metric names: ``http_requests_total`` with ``status``, the
``http_request_duration_seconds`` histogram), its counters growing on every scrape with 2 % errors and a
few slow requests; the pod is discovered as Kubernetes SD would show it, with ``app.kubernetes.io/name``.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest

from components import conventions as cv
from components.cost.addons import cost_per_thousand_requests_expr
from components.monitoring import names
from components.monitoring.dashboards import collect_promql, for_prometheus
from components.monitoring.dashboards.application import application_dashboard
from components.monitoring.dashboards.slo import slo_dashboard
from components.monitoring.rules import DEFAULT_RUNBOOK_BASE_URL, sli_recording_rules
from components.monitoring.scrape import prometheus_config
from components.monitoring.service import service_rule_group
from components.service.load import load_services
from tests.monitoring.promsupport import (
    Container,
    FakeExporter,
    Pod,
    Prometheus,
    pod_targets,
    promql_errors,
    swap_discovery,
    write_rules,
)
from tests.support.procs import wait_until

INTERVAL = "1s"


class _App:
    """Counters of the orders API, 100 requests per scrape: 2 errors, 3 slower than 0.5 s."""

    def __init__(self) -> None:
        self.scrapes = itertools.count(1)
        self.lock = threading.Lock()

    def __call__(self, _query: dict[str, list[str]]) -> str:
        with self.lock:
            n = next(self.scrapes)
        labels = 'method="GET",route="/orders"'
        lines = [
            f'http_requests_total{{{labels},status="200"}} {98 * n}',
            f'http_requests_total{{{labels},status="500"}} {2 * n}',
        ]
        for le in cv.DURATION_BUCKETS:
            lines.append(f'http_request_duration_seconds_bucket{{{labels},le="{le}"}} {(97 if le < 0.75 else 100) * n}')
        lines.append(f'http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {100 * n}')
        lines.append(f"http_request_duration_seconds_count{{{labels}}} {100 * n}")
        lines.append(f"http_request_duration_seconds_sum{{{labels}}} {12 * n}")
        lines.append("http_requests_in_flight 3")
        lines.append(f"orders_created_total {n}")
        lines.append('app_build_info{version="1.0.0",commit="abc1234"} 1')
        return "\n".join(lines) + "\n"


@pytest.mark.server
@pytest.mark.tools
def test_every_slo_dashboard_query_returns_data(tmp_path: Path) -> None:
    spec = load_services({"orders-api": {}})[0]
    group = service_rule_group(spec, runbook_base_url=DEFAULT_RUNBOOK_BASE_URL, evaluation_interval=INTERVAL)
    rules_dir = tmp_path / "rules"
    write_rules(
        {
            "service.yaml": {"groups": [group]},
            "sli.yaml": {"groups": [{"name": "sli", "rules": sli_recording_rules()}]},
        },
        rules_dir,
    )
    with FakeExporter({"/metrics": _App()}) as app:
        pod = Pod(
            "orders-api-6f7d9cbb85-x1",
            spec.namespace,
            "127.0.0.1",
            [Container("orders-api", [("http", app.port)])],
            labels={cv.LABEL_NAME: spec.name, cv.LABEL_APP: spec.name, cv.ROLLOUTS_HASH_POD_LABEL: "6f7d9cbb85"},
            annotations={cv.ANNOTATION_SCRAPE: "true", cv.ANNOTATION_PORT: str(app.port)},
        )
        cfg = swap_discovery(
            prometheus_config(scrape_interval=INTERVAL, evaluation_interval=INTERVAL),
            tmp_path,
            {names.ANNOTATED_PODS_JOB: pod_targets(pod)},
            rules_dir=rules_dir,
        )
        exprs = [for_prometheus(e) for e in collect_promql(slo_dashboard())]
        exprs += [for_prometheus(e) for e in collect_promql(application_dashboard())]
        # the cost dashboard's per-service request rate, with its variables set as Grafana would
        requests_only = cost_per_thousand_requests_expr(spec.namespace, spec.name).split(" / ", 1)[1]
        exprs.append(requests_only)
        with Prometheus(cfg, tmp_path) as prom:
            assert promql_errors(prom, exprs) == {}

            def all_answer() -> bool:
                return all(prom.query(e) for e in exprs)

            try:
                wait_until(all_answer, timeout=30, what="every SLO and application dashboard query to return data")
            except TimeoutError as exc:
                raise AssertionError(f"{exc}; still empty: {[e for e in exprs if not prom.query(e)]}") from None
            budget = prom.query('namespace_service_slo:error_budget_remaining:ratio{slo="availability"}')
    # 2 % errors against a 0.1 % budget: 20x overspent
    assert budget and float(budget[0]["value"][1]) == pytest.approx(1 - 0.02 / 0.001, rel=0.01)
    assert budget[0]["metric"]["service"] == spec.name and budget[0]["metric"]["namespace"] == spec.namespace
