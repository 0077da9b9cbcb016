"""The CanaryDelivery component (the Argo Rollouts controller) as the stacks register it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components import conventions as cv
from components import versions
from components.canary import component
from tools.mockrun import Resource, Run

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


def test_the_component_holds_only_the_controller(stack_run: Callable[[str], Run]) -> None:
    """Each service's Rollout is in its own Service component; CanaryDelivery is platform-wide."""
    run = stack_run("prod")
    kinds = sorted(
        (r.inputs.get("kind"), r.inputs["metadata"]["name"])
        for r in _ours(run)
        if r.custom and r.type.startswith("kubernetes:") and r.type != CONFIG_FILE
    )
    assert kinds == [("NetworkPolicy", "allow-argo-rollouts")]
