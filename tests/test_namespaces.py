"""Platform namespaces: Pod Security, cost labels, LimitRange, ResourceQuota and default-deny."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from components import conventions as cv
from tools.mockrun import Run

NS = "kubernetes:core/v1:Namespace"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


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
        "web",
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


def test_quota_follows_stack_config(stack_run: Callable[[str], Run]) -> None:
    dev = stack_run("dev").get("kubernetes:core/v1:ResourceQuota", "monitoring-quota").inputs["spec"]["hard"]
    prod = stack_run("prod").get("kubernetes:core/v1:ResourceQuota", "monitoring-quota").inputs["spec"]["hard"]
    assert dev["requests.cpu"] == "2" and prod["requests.cpu"] == "8"
    assert prod["pods"] == "50"
