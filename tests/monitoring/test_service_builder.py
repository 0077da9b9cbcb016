"""``service_addons``: what one service definition becomes (pure data, no Pulumi)."""

from __future__ import annotations

import dataclasses

import pytest

from components.monitoring import service as svc
from components.service.load import load_services
from components.service.spec import ServiceSpec, Slo

BASE = "https://github.com/example-org/hardening/blob/main/docs"


def _orders() -> ServiceSpec:
    return load_services({"orders-api": {}})[0]


def test_fast_window_is_four_evaluations() -> None:
    assert [svc.fast_window(i) for i in ("15s", "30s", "1s", "90s")] == ["1m", "2m", "4s", "6m"]
    with pytest.raises(ValueError, match="evaluation_interval = '15 seconds'"):
        svc.fast_window("15 seconds")


def test_burn_rates_follow_the_workbook_and_the_slo_window() -> None:
    assert [round(c.burn_rate("30d"), 4) for c in (*svc.PAGE, *svc.TICKET)] == [14.4, 6.0, 3.0, 1.0]
    assert [round(c.burn_rate("28d"), 4) for c in (*svc.PAGE, *svc.TICKET)] == [13.44, 5.6, 2.8, 0.9333]


def test_addons_for_one_service() -> None:
    spec = _orders()
    addons = svc.service_addons(spec, runbook_base_url=BASE, evaluation_interval="15s")
    (group,) = addons.rule_groups
    assert group["name"] == "service-web-orders-api"
    records = [r for r in group["rules"] if "record" in r]
    alerts = {(r["alert"], r["labels"].get("slo")): r for r in group["rules"] if "alert" in r}
    assert all(r["labels"]["namespace"] == "web" and r["labels"]["service"] == "orders-api" for r in records)
    # the orders API's own names and label, never the OpenTelemetry defaults
    text = " ".join(r["expr"] for r in records)
    assert 'http_requests_total{namespace="web", service="orders-api", status=~"5.."}' in text
    assert "http_server_request_duration_seconds" not in text
    assert svc.sli_error_ratio("1m", by_hash=True) in {r["record"] for r in records}
    assert alerts[("HighErrorRatio", None)]["expr"] == (
        'namespace_service:sli_error_ratio:rate1m{namespace="web", service="orders-api"} > 0.05'
    )
    assert alerts[("HighErrorRatio", None)]["for"] == "1m"
    assert alerts[("HighLatencyP95", None)]["labels"]["severity"] == "warning"
    page, ticket = alerts[("ErrorBudgetFastBurn", "availability")], alerts[("ErrorBudgetSlowBurn", "availability")]
    assert (page["labels"]["severity"], ticket["labels"]["severity"]) == ("critical", "warning")
    assert "> 13.44" in page["expr"] and "burn_rate:5m" in page["expr"] and "burn_rate:6h" in page["expr"]
    assert ("ErrorBudgetFastBurn", "latency") in alerts
    (probe,) = addons.probes
    assert (probe.service, probe.namespace, probe.url) == ("orders-api", "web", "http://orders-api.web.svc:80/readyz")


def test_latency_slo_matches_its_bucket_however_spelled() -> None:
    spec = dataclasses.replace(_orders(), slos=(Slo("fast", "latency", 99.0, "30d", 1.0),))
    group = svc.service_rule_group(spec, runbook_base_url=BASE, evaluation_interval="15s")
    bad = next(r for r in group["rules"] if r.get("record") == svc.slo_bad_ratio("1h"))
    assert 'le=~"1|1\\\\.0"' in bad["expr"]


def test_a_missing_runbook_is_a_build_error() -> None:
    from components.monitoring.alert import alert_rule

    with pytest.raises(ValueError, match=r"runbook anchor #nosuchalert is not a heading of docs/MONITORING_GUIDE\.md"):
        alert_rule("NoSuchAlert", "up == 0", severity="warning", summary="s", description="d", runbook_base_url=BASE)
    with pytest.raises(ValueError, match="severity = 'page' is invalid; accepted: critical, warning"):
        alert_rule("TargetDown", "up == 0", severity="page", summary="s", description="d", runbook_base_url=BASE)
