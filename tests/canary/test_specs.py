"""Pure builders of components/canary: strategy validation, CRD-valid documents, the controller
transform, timing and the monitoring add-ons."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components import conventions as cv
from components import k8s as k8s_builders
from components import vendored, versions
from components.canary import component, specs
from components.canary import monitoring as canary_monitoring
from components.service import workload
from components.versions import image
from policies.registry import check_resource
from tests.canary.support import stack_delivery, stack_service, stack_settings
from tests.support import yamlio
from tests.support.crds import validate_custom_resource

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "PROGRESSIVE_DEPLOYMENT_GUIDE.md"
BASE = specs.DeliveryInput(app="orders-api", namespace="web")


def upstream_controller_deployment() -> dict[str, Any]:
    text = vendored.read_verified(
        versions.ARGO_ROLLOUTS_PACKAGE, versions.ARGO_ROLLOUTS_VERSION, versions.ARGO_ROLLOUTS_INSTALL
    )
    docs = yamlio.load_all(text)
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
        k8s_builders.camel(workload.pod_template(service, vault)),
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
        # held: a breakage starting at 80 % must be able to fail the analysis before promotion
        {"pause": {"duration": "2m"}},
    ]
    assert strategy["trafficRouting"] == {"nginx": {"stableIngress": "orders-api"}}
    # the previous stable ReplicaSet stays up for the worst-case abort time after promotion
    assert strategy["scaleDownDelaySeconds"] == 150
    assert strategy["stableService"] == "orders-api" and strategy["canaryService"] == "orders-api-canary"
    analysis = strategy["analysis"]
    assert analysis["startingStep"] == 0
    assert analysis["templates"] == [{"templateName": "orders-api-slo"}]
    assert analysis["args"] == [{"name": specs.ARG_CANARY_HASH, "valueFrom": {"podTemplateHashValue": "Latest"}}]


def test_without_ingress_host_the_canary_is_replica_weighted() -> None:
    strategy = specs.rollout_strategy(stack_delivery("dev"))["canary"]
    assert "trafficRouting" not in strategy and "scaleDownDelaySeconds" not in strategy  # needs routing
    # dev asks for one 30 s pause; held to the worst-case abort time (220 s) in whole intervals
    assert strategy["steps"] == [{"setWeight": 50}, {"pause": {"duration": "4m"}}]


def test_blue_green_has_active_preview_and_pre_promotion_analysis() -> None:
    inp = stack_delivery("prod", strategy="blueGreen")
    bg = specs.rollout_strategy(inp)["blueGreen"]
    assert bg["activeService"] == "orders-api" and bg["previewService"] == "orders-api-preview"
    pre, post = bg["prePromotionAnalysis"], bg["postPromotionAnalysis"]
    # the same definition before and after the switch, only the number of measurements differs
    assert pre["templates"] == post["templates"] == [{"templateName": "orders-api-slo"}]
    t = specs.timing(inp)
    assert bg["autoPromotionSeconds"] == 150 == t.pauses[0]  # 1m held to the worst case (145 s)
    assert {"name": specs.ARG_MEASUREMENTS, "value": "6"} in pre["args"]  # 150 s / 30 s + 1
    assert {"name": specs.ARG_MEASUREMENTS, "value": str(t.post_promotion_count)} in post["args"]
    assert t.post_promotion_count == 4  # window 45 s -> 2 intervals, then failureLimit + 1 failures
    # the previous active ReplicaSet outlives the post-promotion run, so a failure switches straight back
    assert bg["scaleDownDelaySeconds"] >= t.warmup + t.post_promotion_count * t.interval + t.reaction
    spec = specs.analysis_template(inp)["spec"]
    assert {m["count"] for m in spec["metrics"]} == {"{{args.measurements}}"}
    assert {"name": specs.ARG_MEASUREMENTS, "value": "6"} in spec["args"]


def test_analysis_template_reads_the_canary_raw_series_with_settings_thresholds() -> None:
    inp = stack_delivery("prod", error_ratio=0.02, latency_p95_seconds=0.3, failure_limit=2, analysis_interval="20s")
    spec = specs.analysis_template(inp)["spec"]
    by_name = {m["name"]: m for m in spec["metrics"]}
    err, lat = by_name[specs.METRIC_ERROR_RATIO], by_name[specs.METRIC_LATENCY_P95]
    traffic = by_name[specs.METRIC_TRAFFIC]
    # window: max(interval 20 s, 3 scrapes of 15 s) = 45 s; gated on min_requests (10)
    assert err["provider"]["prometheus"]["query"].startswith(
        f'((sum(increase({cv.METRIC_REQUESTS}{{{specs.canary_selector()}, status=~"5.."}}[45s])) or vector(0))'
    )
    assert "> -1" not in err["provider"]["prometheus"]["query"]
    assert f"{cv.METRIC_DURATION}_bucket" in lat["provider"]["prometheus"]["query"]
    assert traffic["provider"]["prometheus"]["query"] == (
        f"sum(increase({cv.METRIC_REQUESTS}{{{specs.canary_selector()}}}[45s]))"
    )
    assert traffic["successCondition"].endswith("result[0] >= 10") and traffic["failureCondition"] == "false"
    for m in (err, lat, traffic):
        assert m["initialDelay"] == "30s" and m["inconclusiveLimit"] == 1
        assert m["provider"]["prometheus"]["query"].count("[45s]") >= 1
        assert "and on() (sum(increase(" in m["provider"]["prometheus"]["query"] or m is traffic
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
        specs.ARG_MEASUREMENTS: str(specs.analysis_count(inp)),
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"weights": (50, 20)},
            r"weights \(services.<name>.canary.weights / platform.yaml delivery.weights\) = \[50, 20\] is invalid; "
            r"accepted: .*strictly increasing",
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
            {
                "strategy": "blueGreen",
                "preview_service": "p",
                "pause": "30s",
                "failure_limit": 2,
                "hold_last_step": False,
            },
            r"failure_limit \(platform.yaml delivery.failureLimit\) = 2 can never be exceeded by the 2 measurement",
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
        analysis_interval=service.delivery.analysis_interval,
        failure_limit=service.delivery.failure_limit,
    )
    # initialDelay 2 x 15 s scrapes + 30 s interval x (failureLimit 1 + 1) + 45 s window + 10 s controllers
    assert budget.as_dict() == {
        "warmup": 30,
        "measurements": 60,
        "window_lag": 45,
        "controller_reaction": 10,
        "total": 145,
    }
    assert budget.total <= specs.ABORT_BUDGET_SECONDS
    assert specs.worst_case_abort_seconds(stack_delivery("prod")) == 145
    assert specs.abort_budget(scrape_interval="15s", analysis_interval="30s", failure_limit=1).total == 145
    guide = GUIDE.read_text()
    assert "145 s" in guide and "2 min 25 s" in guide and "220 s" in guide


def test_canary_analysis_count_outlasts_every_step() -> None:
    inp = stack_delivery("prod")
    count = specs.analysis_count(inp)
    span = len(inp.weights) * (inp.pause_seconds + inp.progress_deadline_seconds)
    assert (count - 1) * inp.interval_seconds >= span


def test_camel_case_conversion_keeps_label_keys() -> None:
    converted = k8s_builders.camel(
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
        "hardening:services.orders-api.tag",
    ):
        assert needle in guide, needle


# --------------------------------------------------------------------------------------------------
# Timing: windows from the steps, the held last step, plans that cannot abort
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "window", "pauses", "worst"),
    [
        # prod: window max(30 s, 3 x 15 s) = 45 s <= the 60 s steps; last held to late abort 115 s -> 120 s
        ({}, 45, (60, 60, 120), 145),
        # dev: 30 s scrapes -> 60 s warm-up, 90 s window; the single pause held to 220 s -> 240 s
        ({"weights": (50,), "pause": "30s", "scrape_interval": "30s"}, 90, (240,), 220),
        # a short middle step bounds the window (each weight is judged on its own data)
        ({"pauses": ("40s", "30s", "5m")}, 30, (40, 30, 300), 130),
        # a long last pause is kept as configured
        ({"weights": (10, 90), "pause": "10m"}, 45, (600, 600), 145),
        # failureLimit 0 and 10 s measurements
        ({"analysis_interval": "10s", "failure_limit": 0, "scrape_interval": "5s"}, 15, (60, 60, 60), 45),
    ],
)
def test_windows_and_pauses_come_from_the_steps(
    changes: dict[str, Any], window: float, pauses: tuple[float, ...], worst: float
) -> None:
    inp = dataclasses.replace(BASE, **changes)
    t = specs.timing(inp)
    assert (t.window, t.pauses, t.worst_case_abort) == (window, pauses, worst)
    # the window never exceeds a step the canary must be judged in, and sees at least two scrapes
    assert t.window <= min(t.configured_pauses[:-1] or t.pauses) and t.window >= 2 * inp.scrape_seconds
    assert t.worst_case_abort == t.warmup + t.interval * (inp.failure_limit + 1) + t.window + t.reaction
    # the held plan can always abort: in total, and for a breakage starting at the last weight
    assert sum(t.pauses) >= t.worst_case_abort and t.pauses[-1] >= t.late_abort
    assert all(p % t.interval == 0 for p in t.pauses[-1:])
    query = specs.analysis_template(inp)["spec"]["metrics"][0]["provider"]["prometheus"]["query"]
    assert query.endswith(f"[{specs._go_duration(window)}]))")


def test_a_plan_that_cannot_abort_is_refused_when_not_held() -> None:
    dev = dataclasses.replace(BASE, weights=(50,), pause="30s", scrape_interval="30s", hold_last_step=False)
    with pytest.raises(
        specs.StrategyError,
        match=r"delivery.pause\): the step plan pauses 30s in total, shorter than the worst-case time to abort "
        r"\(220s = initialDelay 60s \+ interval 30s x \(failureLimit 1 \+ 1\) \+ window 90s \+ reaction 10s\)",
    ):
        specs.validate(dev)
    # long enough in total but the last step is too short for a breakage at the last weight
    late = dataclasses.replace(BASE, pauses=("3m", "1m", "1m"), hold_last_step=False)
    with pytest.raises(specs.StrategyError, match=r"the last pause 60s is shorter than .* \(115s\)"):
        specs.validate(late)
    specs.validate(dataclasses.replace(late, pauses=("1m", "1m", "2m")))  # accepted as configured
    assert specs.rollout_strategy(dataclasses.replace(late, pauses=("1m", "1m", "2m")))["canary"]["steps"][-1] == {
        "pause": {"duration": "2m"}
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pauses": ("1m",)}, r"pauses = \['1m'\] has 1 entries for 3 weight\(s\)"),
        ({"pauses": ("1m", "10s", "1m")}, r"pauses\[1\] = '10s' is shorter than analysis_interval"),
        ({"pauses": ("1m", "soon", "1m")}, r"pauses\[1\] = 'soon' is invalid"),
        (
            {"min_requests": 0},
            r"min_requests \(Thresholds.canary_min_requests\) = 0 is invalid; accepted: an integer >= 1",
        ),
        ({"scrape_interval": "0s"}, r"scrape_interval \(hardening:scrapeInterval\) = '0s' is invalid"),
        ({"inconclusive_limit": 5}, r"inconclusive_limit = 5 is invalid; accepted: an integer in 0..3"),
        (
            {"pauses": ("30s", "30s", "1m"), "scrape_interval": "20s"},
            r"pause \(services.<name>.canary.pause / platform.yaml delivery.pause\) = 30s is shorter than the "
            r"shortest analysis window \(40s",
        ),
    ],
)
def test_invalid_timing_inputs_are_rejected_naming_the_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(specs.StrategyError, match=message):
        specs.validate(dataclasses.replace(BASE, **changes))


def test_every_stack_can_abort_and_shows_its_worst_case() -> None:
    for stack in ("dev", "prod"):
        inp = stack_delivery(stack)
        t = specs.timing(inp)
        assert t.promotion_after >= t.worst_case_abort, (stack, t.as_dict())
        assert specs.worst_case_abort_seconds(inp) == t.worst_case_abort
        # the strict check accepts what the builder renders
        held = dataclasses.replace(inp, pauses=tuple(specs._go_duration(p) for p in t.pauses), hold_last_step=False)
        specs.validate(held)
        assert specs.canary_steps(held) == specs.canary_steps(inp)


def test_service_specs_build_the_same_delivery_input() -> None:
    """The lead's per-service component builds DeliveryInput from a ServiceSpec; the orders API's spec
    gives what the stack keys give today, and every service's template and Rollout are CRD-valid."""
    from components.service.load import load_services

    services = {s.name: s for s in load_services({"orders-api": {}, "go-deployment-demo": {}})}
    for svc in services.values():
        inp = specs.service_delivery_input(
            svc.name,
            svc.namespace,
            svc.delivery,
            svc.thresholds,
            svc.sli,
            scrape_interval="15s",
            ingress_host=svc.host,
        )
        assert inp.min_requests == svc.thresholds.canary_min_requests
        validate_custom_resource(specs.analysis_template(inp))
        pod = {"metadata": {}, "spec": {"containers": [{"name": "app", "image": svc.image}]}}
        validate_custom_resource(specs.rollout(inp, pod, replicas=1, labels={}))
        queries = specs.analysis_queries(inp)
        assert f"{svc.sli.requests}{{" in queries[specs.METRIC_TRAFFIC]
        assert f'{svc.sli.status_label}=~"{svc.sli.error_status_regex}"' in queries[specs.METRIC_ERROR_RATIO]
        assert f"{svc.sli.buckets}{{" in queries[specs.METRIC_LATENCY_P95]
    orders = services["orders-api"]
    from_service = specs.service_delivery_input(
        "orders-api", "web", orders.delivery, orders.thresholds, orders.sli, scrape_interval="15s"
    )
    from_component = stack_delivery("prod", host="")
    assert specs.analysis_template(from_service) == specs.analysis_template(from_component)


def _grid() -> list[specs.DeliveryInput]:
    out = []
    for scrape in ("5s", "15s", "30s", "1m"):
        for interval in ("10s", "30s", "1m"):
            for limit in (0, 1, 3):
                for weights, pauses in (
                    ((50,), ("30s",)),
                    ((20, 50, 80), ("1m", "1m", "1m")),
                    ((10, 25, 50, 75), ("2m", "1m", "5m", "30s")),
                    ((5, 95), ("10m", "1m")),
                ):
                    out.append(
                        dataclasses.replace(
                            BASE,
                            weights=weights,
                            pauses=pauses,
                            scrape_interval=scrape,
                            analysis_interval=interval,
                            failure_limit=limit,
                        )
                    )
    return out


def test_timing_properties_over_a_grid_of_plans() -> None:
    """Every plan the builder accepts can abort in time, judges each weight on its own window, and is
    accepted as rendered by the strict check; every plan it refuses names a pause."""
    accepted = refused = 0
    for inp in _grid():
        try:
            specs.validate(inp)
        except specs.StrategyError as exc:
            refused += 1
            assert any("pause" in p for p in exc.problems), exc.problems
            continue
        accepted += 1
        t = specs.timing(inp)
        non_last = t.configured_pauses[:-1]
        assert 2 * inp.scrape_seconds <= t.window <= max(inp.interval_seconds, 3 * inp.scrape_seconds)
        if non_last:
            assert t.window <= min(non_last)
        assert t.pauses[:-1] == non_last  # only the last pause is ever held
        assert t.pauses[-1] >= max(t.configured_pauses[-1], t.late_abort)
        assert t.promotion_after >= t.worst_case_abort
        assert t.pauses[-1] - max(t.configured_pauses[-1], t.late_abort, t.worst_case_abort - sum(non_last)) < (
            inp.interval_seconds
        )
        assert (t.background_count - 1) * inp.interval_seconds >= t.promotion_after
        strict = dataclasses.replace(inp, pauses=tuple(specs._go_duration(p) for p in t.pauses), hold_last_step=False)
        specs.validate(strict)
    assert accepted > 50 and refused > 5, (accepted, refused)


def test_rollout_dashboard_names_no_service_and_picks_one_with_variables() -> None:
    import json

    services = [stack_service("prod"), stack_service("prod", "go-deployment-demo")]
    board = canary_monitoring.rollout_dashboard(services)
    exprs = json.dumps([p.get("targets") for p in board["panels"]])
    for s in services:
        assert f'"{s.name}"' not in exprs and f'namespace=\\"{s.namespace}\\"' not in exprs
    names = [v["name"] for v in board["templating"]["list"]]
    assert names == ["namespace", "service"] and 'name=\\"$service\\"' in exprs
