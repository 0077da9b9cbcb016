"""Platform namespaces: Pod Security, cost labels, LimitRange, ResourceQuota and default-deny."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import yaml

from components import conventions as cv
from components.config import parse_resources
from tests.conftest import ROOT
from tools.mockrun import Run

NS = "kubernetes:core/v1:Namespace"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


SERVICE_NAMESPACES = {"dev": {"web"}, "prod": {"web", "demo"}}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_namespaces_are_labelled_and_guarded(stack_run: Callable[[str], Run], stack: str) -> None:
    run = stack_run(stack)
    namespaces = {r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"] for r in run.by_type(NS)}
    assert set(namespaces) == {
        cv.NS_MONITORING,
        cv.NS_NODE_EXPORTER,
        cv.NS_LOGGING,
        cv.NS_VAULT,
        cv.NS_COST,
        cv.NS_ROLLOUTS,
        *SERVICE_NAMESPACES[stack],
    }
    for name, lbls in namespaces.items():
        assert lbls[cv.LABEL_TEAM] and lbls[cv.LABEL_COST_CENTER]
        expected = "privileged" if name in (cv.NS_NODE_EXPORTER, cv.NS_VAULT) else "restricted"
        assert lbls["pod-security.kubernetes.io/enforce"] == expected, name
        quota = run.get("kubernetes:core/v1:ResourceQuota", f"{name}-quota").inputs["spec"]["hard"]
        assert set(quota) == {"requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "pods"}
        limits = run.get("kubernetes:core/v1:LimitRange", f"{name}-defaults").inputs["spec"]["limits"][0]
        assert limits["type"] == "Container" and limits["default"] and limits["defaultRequest"]
        deny = run.get(NETPOL, f"{name}-default-deny").inputs["spec"]
        assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress", "Egress"]
        assert "ingress" not in deny
        (dns,) = deny["egress"]
        assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
    assert namespaces["web"][cv.LABEL_TEAM] == "web"
    if stack == "prod":
        assert namespaces["demo"][cv.LABEL_TEAM] == "demo"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_platform_quota_follows_the_stack_file(stack_run: Callable[[str], Run], stack: str) -> None:
    cfg = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    want = parse_resources(cfg["hardening:namespaceQuota"])
    hard = stack_run(stack).get("kubernetes:core/v1:ResourceQuota", "monitoring-quota").inputs["spec"]["hard"]
    assert (hard["requests.cpu"], hard["limits.memory"]) == (want.cpu_request, want.memory_limit)
    assert hard["pods"] == str(cfg["hardening:namespaceMaxPods"])
