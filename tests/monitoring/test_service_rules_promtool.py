"""The per-service rules (``service_addons``) through promtool, for the default SLI contract (OpenTelemetry
HTTP names) and two overrides (the orders API's ``http_requests_total``/``status``, promhttp's ``code``):
detection "fires by minute N" at prod's 15 s, silence at 4.9 % errors and a 450 ms P95, the SLO burns
(a 49x burn pages within its 1 h window; a 2x burn opens a ticket, never a page), and the error budget.

Scenarios and thresholds are bench/detection.py's, so the bench's table and these assertions are one thing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench import detection as det
from components.monitoring import service as svc
from components.monitoring.scrape import to_yaml
from components.service.load import load_services
from components.service.spec import ServiceSpec, SliContract
from tests.monitoring.promsupport import PROMTOOL, run_tool, write_rules

RUNBOOKS = "https://github.com/example-org/hardening/blob/main/docs"


def _specs() -> dict[str, ServiceSpec]:
    orders, go = load_services({"orders-api": {}, "go-deployment-demo": {}})
    otel = dataclasses.replace(orders, name="otel-api", sli=SliContract())  # the default contract
    return {"orders-api": orders, "go-deployment-demo": go, "otel-api": otel}


def _by_name(*names: str) -> list[det.Scenario]:
    chosen = [s for s in det.scenarios() if s.name in names]
    assert len(chosen) == len(names)
    return chosen


FAST = [s.name for s in det.scenarios() if not s.slow]
CONTRACT = ["errors 0 % -> 10 %", "errors 0 % -> 4.9 %", "P95 100 ms -> 800 ms", "P95 100 ms -> 450 ms"]


def _promtool(_tmp: Path, spec: ServiceSpec, chosen: list[det.Scenario], interval: int) -> tuple[int, str]:
    result = det.run_promtool(spec, chosen, interval, measure=False)
    return result.returncode, result.stdout


@pytest.mark.tools
def test_orders_api_detection_targets_at_prod_interval(tmp_path: Path) -> None:
    code, out = _promtool(tmp_path, _specs()["orders-api"], _by_name(*FAST), 15)
    assert code == 0, out


@pytest.mark.tools
@pytest.mark.parametrize("service", ["otel-api", "go-deployment-demo"])
def test_every_sli_contract_detects_the_same(tmp_path: Path, service: str) -> None:
    """OpenTelemetry's histogram with http_response_status_code, and promhttp's code label + Go buckets."""
    code, out = _promtool(tmp_path, _specs()[service], _by_name(*CONTRACT), 15)
    assert code == 0, out


@pytest.mark.tools
def test_slo_burns_page_fast_and_ticket_slow(tmp_path: Path) -> None:
    chosen = [s for s in det.scenarios() if s.alert.startswith("ErrorBudget")]
    assert {s.target_minutes for s in chosen} == {60, None, 48 * 60}
    code, out = _promtool(tmp_path, _specs()["orders-api"], chosen, 15)
    assert code == 0, out


@pytest.mark.tools
def test_a_missed_target_fails(tmp_path: Path) -> None:
    """The harness can fail: a 6 % error rate cannot be detected within 1 minute (it takes 2)."""
    (six,) = _by_name("errors 0 % -> 6 %")
    code, out = _promtool(tmp_path, _specs()["orders-api"], [dataclasses.replace(six, target_minutes=1)], 15)
    assert code != 0 and "got: {} 0E+00" in out, out


@pytest.mark.tools
def test_measured_minutes_match_the_crossing_math() -> None:
    """10 % errors: the 1 m ratio passes 5 % 45 s after the change (0.1 x 45/60 > 0.05), firing 1 m later."""
    minutes = det.measure(_specs()["orders-api"], 15, _by_name("errors 0 % -> 10 %", "errors 0 % -> 4.9 %"))
    assert minutes == {"errors 0 % -> 10 %": 1.75, "errors 0 % -> 4.9 %": None}


@pytest.mark.tools
def test_error_budget_rules(tmp_path: Path) -> None:
    """A day at 0.05 % errors against 99.9 %: burn rate 0.5 in every window; the 28 d window holds only that
    day, so the remaining budget is 1 - 0.0005 / 0.001 = 0.5."""
    spec = _specs()["orders-api"]
    group = svc.service_rule_group(spec, runbook_base_url=RUNBOOKS, evaluation_interval="60s")
    write_rules({"service.yaml": {"groups": [group]}}, tmp_path)
    sel = 'namespace="web", service="orders-api", slo="availability"'
    test: dict[str, Any] = {
        "rule_files": ["service.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": det.errors(0.0005)(spec, 60, 60, 24 * 3600),
                "promql_expr_test": [
                    {
                        "expr": f"round({svc.SLO_BUDGET_REMAINING}{{{sel}}}, 0.01)",
                        "eval_time": "24h",
                        "exp_samples": [{"labels": f"{{{sel}}}", "value": 0.5}],
                    },
                    {
                        "expr": f"round({svc.slo_burn_rate('1h')}{{{sel}}}, 0.01)",
                        "eval_time": "24h",
                        "exp_samples": [{"labels": f"{{{sel}}}", "value": 0.5}],
                    },
                    {
                        "expr": f"{svc.SLO_OBJECTIVE}{{{sel}}}",
                        "eval_time": "24h",
                        "exp_samples": [
                            {"labels": f"{svc.SLO_OBJECTIVE}{{{sel}}}", "value": 0.999},
                        ],
                    },
                ],
            }
        ],
    }
    (tmp_path / "budget.test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    result = run_tool([PROMTOOL, "test", "rules", "budget.test.yaml"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.tools
@pytest.mark.parametrize("interval", ["15s", "30s"])
def test_promtool_check_rules_every_contract(tmp_path: Path, interval: str) -> None:
    groups = [
        svc.service_rule_group(s, runbook_base_url=RUNBOOKS, evaluation_interval=interval) for s in _specs().values()
    ]
    path = tmp_path / "services.yaml"
    path.write_text(to_yaml({"groups": groups}))
    result = run_tool([PROMTOOL, "check", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
