"""The cost add-ons: scrape job, rule group and dashboard; their PromQL evaluated by the real promtool."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from components import conventions as cv
from components.config import load_settings
from components.cost import addons
from components.monitoring.dashboards import collect_promql
from components.monitoring.rules import validate_rule_group

SETTINGS = load_settings({})


def test_addons_shape() -> None:
    a = addons.monitoring_addons(SETTINGS)
    (target,) = a.scrape_targets
    assert target.namespace == cv.NS_COST and target.honor_labels and target.port == "http"
    (group,) = a.rule_groups
    validate_rule_group(group)
    (dash,) = a.dashboards
    exprs = collect_promql(dash.json)
    assert len(exprs) >= 10 and any(cv.SLI_REQUEST_RATE in e for e in exprs)
    assert any("kube_namespace_labels" in e and "label_team" in e for e in exprs)
    trend = next(p for p in dash.json["panels"] if p.get("title") == "Daily spend, 30-day trend")
    assert trend["timeFrom"] == "30d"


@pytest.mark.tools
def test_cost_queries_on_real_promtool(tmp_path: Path) -> None:
    """Hand-priced OpenCost series -> namespace, team and cost-per-1000-requests figures (powers of two: exact)."""
    group = addons.rule_group(SETTINGS)
    dash = addons.monitoring_addons(SETTINGS).dashboards[0].json
    # every dashboard expression must at least parse: record each one in a throwaway group
    checks = {
        "name": "dashboard",
        "rules": [{"record": f"dashboard:expr{i}", "expr": e} for i, e in enumerate(collect_promql(dash))],
    }
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": [group, checks]}))
    oc, ksm = 'job="opencost"', 'job="kube-state-metrics"'
    series = {
        f'container_cpu_allocation{{{oc}, namespace="web", node="n1", pod="a"}}': 0.5,
        f'container_cpu_allocation{{{oc}, namespace="ops", node="n1", pod="b"}}': 1,
        f'container_memory_allocation_bytes{{{oc}, namespace="web", node="n1", pod="a"}}': 2**30,
        f'node_cpu_hourly_cost{{{oc}, node="n1"}}': 0.5,
        f'node_ram_hourly_cost{{{oc}, node="n1"}}': 0.25,
        f'pod_pvc_allocation{{{oc}, namespace="ops", pod="b", persistentvolume="pv1"}}': 2 * 2**30,
        f'pv_hourly_cost{{{oc}, persistentvolume="pv1"}}': 0.125,
        f'kubecost_load_balancer_cost{{{oc}, namespace="web", service_name="lb"}}': 1,
        f'kube_namespace_labels{{{ksm}, namespace="web", label_team="web", label_cost_center="a"}}': 1,
        f'kube_namespace_labels{{{ksm}, namespace="ops", label_team="platform", label_cost_center="b"}}': 1,
        f'{cv.SLI_REQUEST_RATE}{{namespace="web", app="orders-api"}}': 1,
        'up{job="opencost"}': 1,
    }
    web, ops = 0.5 * 0.5 + 0.25 + 1, 1 * 0.5 + 2 * 0.125  # 1.5 and 0.75 per hour
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": f"{v}x30"} for s, v in series.items()],
                "promql_expr_test": [
                    {
                        "expr": addons.RECORD_NAMESPACE_HOURLY,
                        "eval_time": "10m",
                        "exp_samples": [
                            {"labels": f'{addons.RECORD_NAMESPACE_HOURLY}{{namespace="web"}}', "value": web},
                            {"labels": f'{addons.RECORD_NAMESPACE_HOURLY}{{namespace="ops"}}', "value": ops},
                        ],
                    },
                    {
                        "expr": addons._by_label(cv.LABEL_TEAM),
                        "eval_time": "10m",
                        "exp_samples": [
                            {"labels": '{team="web"}', "value": web},
                            {"labels": '{team="platform"}', "value": ops},
                        ],
                    },
                    {
                        "expr": addons.cost_per_thousand_requests_expr("web", "orders-api"),
                        "eval_time": "10m",
                        "exp_samples": [{"labels": "{}", "value": 1.5 / (1 * 3600 / 1000)}],
                    },
                ],
                "alert_rule_test": [{"eval_time": "20m", "alertname": addons.ALERT_OPENCOST_DOWN, "exp_alerts": []}],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(tests))
    proc = subprocess.run(
        ["promtool", "test", "rules", "test.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
