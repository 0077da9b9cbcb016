"""Every PromQL expression of every dashboard and every rule is parsed by a real Prometheus."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from components.monitoring.dashboards import builtin_dashboards, collect_promql, for_prometheus
from components.monitoring.rules import all_rules, rule_files
from tests.monitoring.promsupport import Prometheus, empty_prometheus_config, promql_errors


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    with Prometheus(empty_prometheus_config(), tmp_path_factory.mktemp("prom")) as prom:
        yield prom


@pytest.mark.server
def test_every_dashboard_expression_parses(prometheus: Prometheus) -> None:
    exprs = {spec.uid: [for_prometheus(e) for e in collect_promql(spec.json)] for spec in builtin_dashboards()}
    assert all(len(v) >= 5 for v in exprs.values()), {k: len(v) for k, v in exprs.items()}
    errors = {uid: promql_errors(prometheus, v) for uid, v in exprs.items()}
    assert errors == {uid: {} for uid in exprs}


@pytest.mark.server
def test_every_rule_expression_parses(prometheus: Prometheus) -> None:
    exprs = [r["expr"] for r in all_rules(rule_files())]
    assert len(exprs) >= 20
    assert promql_errors(prometheus, exprs) == {}


@pytest.mark.server
def test_a_broken_expression_is_reported(prometheus: Prometheus) -> None:
    bad = 'sum by (app) (rate(http_requests_total{status=~"5.."}[5m])'  # missing parenthesis
    errors = promql_errors(prometheus, [bad, "up"])
    assert list(errors) == [bad] and "bad_data" in errors[bad]


def test_for_prometheus_replaces_grafana_variables() -> None:
    expr = 'rate(x{namespace=~"$namespace", app=~"${app}", pod=~"[[pod]]"}[$__rate_interval])'
    assert for_prometheus(expr, {"app": "orders-api"}) == 'rate(x{namespace=~".*", app=~"orders-api", pod=~".*"}[5m])'
