"""Pure builders of components/canary: strategy validation, CRD-valid documents, the controller
transform, timing and the monitoring add-ons."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components import conventions as cv
from components import vendored, versions
from components.canary import component, specs
from components.canary import monitoring as canary_monitoring
from components.service import workload
from components.versions import image
from policies.registry import check_resource
from tests.canary.support import stack_delivery, stack_service, stack_settings
from tests.support.crds import validate_custom_resource

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "PROGRESSIVE_DEPLOYMENT_GUIDE.md"
BASE = specs.DeliveryInput(app="orders-api", namespace="web")


def upstream_controller_deployment() -> dict[str, Any]:
    text = vendored.read_verified(versions.ARGO_ROLLOUTS_PACKAGE, versions.ARGO_ROLLOUTS_VERSION, "install.yaml")
    docs = yaml.safe_load_all(text)
    return next(d for d in docs if d and d["kind"] == "Deployment" and d["metadata"]["name"] == specs.CONTROLLER)


VARIANTS: dict[str, dict[str, Any]] = {
    "dev": {},
    "prod": {},
    "prod-blue-green": {"strategy": "blueGreen"},
    "dev-ingress": {"host": "orders.dev.example.com"},
    "dev-single-weight-no-tls": {"weights": (10,), "pause": "10s", "analysis_interval": "10s"},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_documents_validate_against_the_v1_9_1_crds(variant: str) -> None:
    service = stack_service(variant.split("-")[0], **VARIANTS[variant])
    inp = stack_delivery(variant.split("-")[0], **VARIANTS[variant])
    template = specs.analysis_template(inp)
    vault = workload.VaultAccess("https://vault.vault.svc:8200", tls=True)
    rollout = specs.rollout(
        inp,
        specs.camel(workload.pod_template(service, vault)),
        replicas=service.replicas,
        labels=workload.service_labels(service),
    )
    validate_custom_resource(template)
    validate_custom_resource(rollout)


def test_prod_canary_strategy_is_20_50_80_with_one_minute_pauses_nginx_and_background_analysis() -> None:
    strategy = specs.rollout_strategy(stack_delivery("prod"))["canary"]
    assert strategy["steps"] == [
        {"setWeight": 20},
        {"pause": {"duration": "1m"}},
        {"setWeight": 50},
        {"pause": {"duration": "1m"}},
        {"setWeight": 80},
        {"pause": {"duration": "1m"}},
    ]
    assert strategy["trafficRouting"] == {"nginx": {"stableIngress": "orders-api"}}
    assert strategy["stableService"] == "orders-api" and strategy["canaryService"] == "orders-api-canary"
    analysis = strategy["analysis"]
    assert analysis["startingStep"] == 0
    assert analysis["templates"] == [{"templateName": "orders-api-slo"}]
    assert analysis["args"] == [{"name": specs.ARG_CANARY_HASH, "valueFrom": {"podTemplateHashValue": "Latest"}}]


def test_without_ingress_host_the_canary_is_replica_weighted() -> None:
    strategy = specs.rollout_strategy(stack_delivery("dev"))["canary"]
    assert "trafficRouting" not in strategy
    assert strategy["steps"] == [{"setWeight": 50}, {"pause": {"duration": "30s"}}]


def test_blue_green_has_active_preview_and_pre_promotion_analysis() -> None:
    inp = stack_delivery("prod", strategy="blueGreen")
    bg = specs.rollout_strategy(inp)["blueGreen"]
    assert bg["activeService"] == "orders-api" and bg["previewService"] == "orders-api-preview"
    assert bg["prePromotionAnalysis"]["templates"] == [{"templateName": "orders-api-slo"}]
    assert bg["autoPromotionSeconds"] == 60
    # the pre-promotion analysis measures the whole pause: 60 s / 30 s + 1
    assert {m["count"] for m in specs.analysis_template(inp)["spec"]["metrics"]} == {3}


def test_analysis_template_reads_the_sli_rules_with_settings_thresholds() -> None:
    inp = stack_delivery("prod", error_ratio=0.02, latency_p95_seconds=0.3, failure_limit=2, analysis_interval="20s")
    spec = specs.analysis_template(inp)["spec"]
    by_name = {m["name"]: m for m in spec["metrics"]}
    err, lat = by_name[specs.METRIC_ERROR_RATIO], by_name[specs.METRIC_LATENCY_P95]
    assert cv.SLI_ERROR_RATIO_BY_HASH in err["provider"]["prometheus"]["query"]
    assert cv.SLI_P95_BY_HASH in lat["provider"]["prometheus"]["query"]
    for m in (err, lat):
        q = m["provider"]["prometheus"]["query"]
        assert f'{cv.ROLLOUTS_HASH_SERIES_LABEL}="{{{{args.{specs.ARG_CANARY_HASH}}}}}"' in q
        assert 'namespace="{{args.namespace}}"' in q and 'app="{{args.app}}"' in q
        assert m["provider"]["prometheus"]["address"] == "http://prometheus.monitoring.svc:9090"
        assert m["interval"] == "20s" and m["failureLimit"] == 2
    assert err["successCondition"].endswith("result[0] < 0.02") and err["failureCondition"].endswith(">= 0.02")
    assert lat["successCondition"].endswith("result[0] < 0.3")
    assert {a["name"]: a.get("value") for a in spec["args"]} == {
        "namespace": "web",
        "app": "orders-api",
        specs.ARG_CANARY_HASH: None,
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"weights": (50, 20)},
            r"weights \(services.<name>.canary.weights / platform.yaml delivery.weights\) = \[50, 20\] is "
            r"invalid; accepted: .*strictly "
            r"increasing",
        ),
        ({"weights": (20, 20)}, r"strictly increasing"),
        ({"weights": ()}, r"canary.weights.*non-empty"),
        ({"weights": (0, 100)}, r"within 1\.\.99"),
        (
            {"pause": "20s", "analysis_interval": "30s"},
            r"pause \(services.<name>.canary.pause / platform.yaml delivery.pause\) = '20s' is shorter than "
            r"analysis_interval \(platform.yaml delivery.analysisInterval\) = '30s'",
        ),
        ({"strategy": "blueGreen"}, r"preview_service is empty; accepted: the name of the preview Service"),
        ({"strategy": "blueGreen", "preview_service": "orders-api"}, r"preview_service = 'orders-api' is the active"),
        (
            {"strategy": "linear"},
            r"strategy \(platform.yaml delivery.strategy\) = 'linear' is invalid; accepted: canary, "
            r"blueGreen",
        ),
        (
            {"strategy": "blueGreen", "preview_service": "p", "pause": "30s", "failure_limit": 2},
            r"failure_limit \(platform.yaml delivery.failureLimit\) = 2 can never be exceeded by the 2 "
            r"measurement",
        ),
        ({"error_ratio_threshold": 1.5}, r"thresholds.errorRatio.*above 0 and below 1"),
        ({"analysis_interval": "soon"}, r"delivery.analysisInterval\) = 'soon' is invalid"),
        ({"canary_service": "orders-api"}, r"canary_service = 'orders-api' is the stable Service"),
    ],
)
def test_invalid_strategy_is_rejected_naming_the_field(changes: dict[str, Any], message: str) -> None:
    bad = dataclasses.replace(BASE, **changes)
    with pytest.raises(specs.StrategyError, match=message):
        specs.analysis_template(bad)
    with pytest.raises(specs.StrategyError):
        specs.rollout_strategy(bad)


def test_every_problem_is_reported_at_once() -> None:
    bad = dataclasses.replace(BASE, weights=(80, 20), pause="10s", analysis_interval="30s", failure_limit=-1)
    with pytest.raises(specs.StrategyError) as info:
        specs.validate(bad)
    assert len(info.value.problems) == 3, info.value.problems


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"canary": {"weights": [50, 20]}}, "hardening:services.orders-api.canary.weights"),
        ({"canary": {"pause": "soon"}}, "hardening:services.orders-api.canary.pause"),
    ],
)
def test_stack_config_rejects_the_same_mistakes_first(overrides: dict[str, Any], key: str) -> None:
    from components.service.load import ServiceError, load_services

    with pytest.raises(ServiceError, match=re.escape(key)):
        load_services({"orders-api": overrides})


def test_prod_worst_case_abort_is_within_three_minutes() -> None:
    settings, service = stack_settings("prod"), stack_service("prod")
    budget = specs.abort_budget(
        scrape_interval=settings.monitoring.scrape_interval,
        evaluation_interval=settings.monitoring.evaluation_interval,
        analysis_interval=service.delivery.analysis_interval,
        failure_limit=service.delivery.failure_limit,
    )
    # 15 s scrapes, 15 s rule evaluation, 30 s analysis interval, failureLimit 1, 10 s for the controllers
    assert budget.as_dict() == {
        "first_scrape": 15,
        "second_scrape": 15,
        "recording_rule": 15,
        "first_failed_measurement": 30,
        "further_failed_measurements": 30,
        "controller_reaction": 10,
        "total": 115,
    }
    assert budget.total <= specs.ABORT_BUDGET_SECONDS
    guide = GUIDE.read_text()
    assert "115 s" in guide and "1 min 55 s" in guide


def test_canary_analysis_count_outlasts_every_step() -> None:
    inp = stack_delivery("prod")
    count = specs.analysis_count(inp)
    span = len(inp.weights) * (inp.pause_seconds + inp.progress_deadline_seconds)
    assert (count - 1) * inp.interval_seconds >= span


def test_camel_case_conversion_keeps_label_keys() -> None:
    converted = specs.camel(
        {
            "metadata": {"labels": {"a_b": "c"}, "annotations": {"x_y": "z"}},
            "spec": {"service_account_name": "s", "from_": [{"pod_selector": {"match_labels": {"k_k": "v"}}}]},
        }
    )
    assert converted == {
        "metadata": {"labels": {"a_b": "c"}, "annotations": {"x_y": "z"}},
        "spec": {"serviceAccountName": "s", "from": [{"podSelector": {"matchLabels": {"k_k": "v"}}}]},
    }


def _findings(resource_type: str, props: dict[str, Any]) -> list[str]:
    failed = []
    for name in ("workload-resources", "workload-probes", "images-no-latest-tag"):
        findings = check_resource(name, resource_type, props)
        failed += [f"{name}: {m}" for m in findings]
    return failed


def test_controller_transform_hardens_the_upstream_deployment() -> None:
    upstream = upstream_controller_deployment()
    assert _findings(component.DEPLOYMENT_TYPE, upstream), "the upstream manifest no longer needs hardening?"
    transform = component.controller_transform(image("argo-rollouts"), 2)
    result = transform(
        pulumi.ResourceTransformArgs(
            custom=True,
            type_=component.DEPLOYMENT_TYPE,
            name="argo-rollouts/argo-rollouts",
            props=upstream,
            opts=pulumi.ResourceOptions(),
        )
    )
    assert result is not None
    props: Any = result.props
    (c,) = props["spec"]["template"]["spec"]["containers"]
    assert c["resources"]["requests"] == {"cpu": "100m", "memory": "256Mi"}
    assert c["resources"]["limits"] == {"ephemeral-storage": "1Gi", "cpu": "1", "memory": "1Gi"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/metrics", "port": specs.CONTROLLER_METRICS_PORT_NAME}
    assert c["image"] == "quay.io/argoproj/argo-rollouts:v1.9.1" and c["imagePullPolicy"] == "IfNotPresent"
    assert props["spec"]["replicas"] == 2
    assert _findings(component.DEPLOYMENT_TYPE, props) == []
    # the input is left untouched and nothing else is transformed
    assert "readinessProbe" not in upstream["spec"]["template"]["spec"]["containers"][0]
    for type_, name in (("kubernetes:core/v1:Service", "argo-rollouts"), (component.DEPLOYMENT_TYPE, "something-else")):
        other = {"metadata": {"name": name}, "spec": {}}
        assert (
            transform(
                pulumi.ResourceTransformArgs(
                    custom=True, type_=type_, name=name, props=other, opts=pulumi.ResourceOptions()
                )
            )
            is None
        )


def test_controller_transform_refuses_an_unexpected_manifest() -> None:
    broken = upstream_controller_deployment()
    broken["spec"]["template"]["spec"]["containers"][0]["name"] = "renamed"
    with pytest.raises(ValueError, match="expected one container named 'argo-rollouts'"):
        specs.harden_controller_deployment(broken, image=image("argo-rollouts"))


def test_monitoring_addons_scrape_alert_and_dashboard() -> None:
    settings = stack_settings("prod")
    addons = canary_monitoring.monitoring_addons(settings, [stack_service("prod")])
    (target,) = addons.scrape_targets
    assert (target.namespace, target.port, dict(target.selector)) == (
        cv.NS_ROLLOUTS,
        "metrics",
        {cv.LABEL_NAME: "argo-rollouts"},
    )
    upstream = upstream_controller_deployment()
    ports = {p["name"]: p["containerPort"] for p in upstream["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert ports[target.port] == specs.CONTROLLER_METRICS_PORT == 8090
    assert upstream["spec"]["template"]["metadata"]["labels"][cv.LABEL_NAME] == specs.CONTROLLER
    (group,) = addons.rule_groups
    alerts = {r["alert"]: r for r in group["rules"]}
    assert 'rollout_info{phase=~"Abort"}' in alerts[canary_monitoring.ALERT_ABORTED]["expr"]
    assert "Timeout" in alerts[canary_monitoring.ALERT_DEGRADED]["expr"]
    (dash,) = addons.dashboards
    titles = [p["title"] for p in dash.json["panels"]]
    assert {"Phase", "Observed traffic share per ReplicaSet", "Analysis metrics (current phase)"} <= set(titles)


def test_every_alert_has_a_runbook_heading_in_the_guide() -> None:
    headings = {h.strip().lower() for h in re.findall(r"^#+\s+(.+)$", GUIDE.read_text(), re.M)}
    group = canary_monitoring.rule_group("https://example.com/docs")
    for rule in group["rules"]:
        url = rule["annotations"]["runbook_url"]
        assert url == f"https://example.com/docs/PROGRESSIVE_DEPLOYMENT_GUIDE.md#{rule['alert'].lower()}"
        assert rule["alert"].lower() in headings, rule["alert"]


def test_guide_documents_promotion_abort_and_rollback() -> None:
    guide = GUIDE.read_text()
    for needle in (
        "kubectl argo rollouts promote",
        "kubectl argo rollouts abort",
        "kubectl argo rollouts undo",
        "pulumi up",
        "appImage",
    ):
        assert needle in guide, needle
