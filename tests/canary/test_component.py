"""The CanaryDelivery component as the stacks register it (the real program under Pulumi's mocks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components import conventions as cv
from components import versions
from components.canary import component, specs
from policies.registry import check_stack
from tests.support.crds import validate_custom_resource
from tools.mockrun import Resource, Run, run_stack

ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
TEMPLATE = "kubernetes:argoproj.io/v1alpha1:AnalysisTemplate"
CONFIG_FILE = "kubernetes:yaml/v2:ConfigFile"


def _doc(res: Resource) -> dict[str, Any]:
    return {k: v for k, v in res.inputs.items() if k in ("apiVersion", "kind", "metadata", "spec")}


def _ours(run: Run) -> list[Resource]:
    """The component's own children (not the upstream manifest's objects, which the ConfigFile owns)."""
    comp = run.get(component.TYPE, "canary")
    upstream = {r.urn for r in run.by_type(CONFIG_FILE)}
    return [r for r in run.resources if r is not comp and run.component_of(r) is comp and r.parent not in upstream]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_rollout_and_template_validate_against_the_crds(stack_run: Callable[[str], Run], stack: str) -> None:
    run = stack_run(stack)
    rollouts, templates = run.by_type(ROLLOUT), run.by_type(TEMPLATE)
    assert len(rollouts) == 1 and len(templates) == 1
    for res in (*rollouts, *templates):
        validate_custom_resource(_doc(res))
    (rollout,) = rollouts
    assert rollout.inputs["metadata"] == {**rollout.inputs["metadata"], "name": "orders-api", "namespace": "web"}
    assert rollout.inputs["spec"]["template"]["spec"]["serviceAccountName"] == "orders-api"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_controller_comes_from_the_pinned_manifest_into_its_namespace(
    stack_run: Callable[[str], Run], stack: str
) -> None:
    run = stack_run(stack)
    (config_file,) = run.by_type(CONFIG_FILE)
    assert config_file.inputs["file"] == f"vendor/argo-rollouts/{versions.ARGO_ROLLOUTS_VERSION}/install.yaml"
    providers = {r.urn: r for r in run.by_type("pulumi:providers:kubernetes")}
    provider_urn = config_file.provider.rsplit("::", 1)[0]
    provider = providers[provider_urn]
    assert provider.inputs["namespace"] == cv.NS_ROLLOUTS
    main = next(p for p in providers.values() if p.name == "k8s")
    for key in ("context", "renderYamlToDirectory", "enableServerSideApply"):
        assert provider.inputs.get(key) == main.inputs.get(key), key
    # everything else uses the main provider and names its namespace explicitly
    for res in _ours(run):
        if res.custom and res.type.startswith("kubernetes:") and res.type != CONFIG_FILE:
            assert res.provider.rsplit("::", 1)[0] == main.urn, res.name
            assert res.inputs["metadata"].get("namespace"), res.name


def test_prod_objects_around_the_rollout(stack_run: Callable[[str], Run]) -> None:
    run = stack_run("prod")
    kinds = sorted(
        (r.inputs.get("kind"), r.inputs["metadata"]["name"])
        for r in _ours(run)
        if r.custom and r.type.startswith("kubernetes:") and r.type != CONFIG_FILE
    )
    assert kinds == sorted(
        [
            ("AnalysisTemplate", "orders-api-slo"),
            ("HorizontalPodAutoscaler", "orders-api"),
            ("Ingress", "orders-api"),
            ("NetworkPolicy", "allow-argo-rollouts"),
            ("NetworkPolicy", "allow-orders-api"),
            ("PodDisruptionBudget", "orders-api"),
            ("Rollout", "orders-api"),
            ("Service", "orders-api"),
            ("Service", "orders-api-canary"),
            ("ServiceAccount", "orders-api"),
        ]
    )
    hpa = run.get("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "orders-api").inputs["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": specs.API_VERSION, "kind": "Rollout", "name": "orders-api"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 10)
    ingress = run.get("kubernetes:networking.k8s.io/v1:Ingress", "orders-api").inputs["spec"]
    assert ingress["ingressClassName"] == "nginx"
    assert ingress["rules"][0]["host"] == "orders.example.com"
    assert ingress["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "orders-api"
    assert run.outputs["rolloutName"] == "orders-api" and run.outputs["rolloutNamespace"] == "web"
    assert run.outputs["stableServiceName"] == "orders-api"
    assert run.outputs["canaryServiceName"] == "orders-api-canary"


def test_dev_has_no_ingress_and_no_hpa(stack_run: Callable[[str], Run]) -> None:
    kinds = {r.inputs.get("kind") for r in _ours(stack_run("dev")) if r.custom}
    assert "Ingress" not in kinds and "HorizontalPodAutoscaler" not in kinds


def test_delivery_and_disruption_policies_pass(stack_run: Callable[[str], Run]) -> None:
    for stack in ("dev", "prod"):
        records = [r.to_record() for r in stack_run(stack).resources]
        assert check_stack("delivery-app-rollout", records) == [], stack
        findings = check_stack("workload-pod-disruption-budget", records)
        assert not [f for f in findings if "orders-api" in f.message], findings


def test_blue_green_stack_registers_active_and_preview_services() -> None:
    run = run_stack("prod", overrides={"deliveryStrategy": "blueGreen"})
    (rollout,) = run.by_type(ROLLOUT)
    validate_custom_resource(_doc(rollout))
    bg = rollout.inputs["spec"]["strategy"]["blueGreen"]
    services = {
        r.inputs["metadata"]["name"]
        for r in run.by_type("kubernetes:core/v1:Service")
        if r.inputs["metadata"]["namespace"] == "web"
    }
    assert {bg["activeService"], bg["previewService"]} == {"orders-api", "orders-api-preview"} <= services
    assert run.outputs["canaryServiceName"] == "orders-api-preview"


def test_invalid_strategy_stops_the_program_before_registering_anything() -> None:
    from components.config import ConfigError

    with pytest.raises(ConfigError, match="hardening:canaryWeights"):
        run_stack("dev", overrides={"canaryWeights": [80, 20]})
