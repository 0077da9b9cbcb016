"""Every namespace's workloads fit its ResourceQuota, including a rollout in progress.

A quota that is too small does not fail `pulumi preview`: it fails pods at admission during `pulumi up`
or, worse, during the first canary. This computes, per namespace, the requests and limits of every pod
the workloads can run at once (replicas, or the HPA's maximum; plus the surge of an update: 25 % for a
Deployment, a full second ReplicaSet for a Rollout; DaemonSets on the stack's node count) and checks them
against the namespace's quota. Containers without requests or limits take the LimitRange defaults.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest

from components.config import cpu_millicores, memory_bytes
from tools.mockrun import Run

WORKLOADS = {
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:argoproj.io/v1alpha1:Rollout",
}


def _pod(spec: dict[str, Any], defaults: dict[str, dict[str, str]]) -> dict[str, float]:
    """Effective requests/limits of a pod: sum of containers, or the largest init container if bigger."""

    def usage(c: dict[str, Any]) -> dict[str, float]:
        res = c.get("resources") or {}
        req = {**defaults["request"], **(res.get("requests") or {})}
        lim = {**defaults["limit"], **(res.get("limits") or {})}
        return {
            "requests.cpu": cpu_millicores(str(req["cpu"])),
            "requests.memory": memory_bytes(str(req["memory"])),
            "limits.cpu": cpu_millicores(str(lim["cpu"])),
            "limits.memory": memory_bytes(str(lim["memory"])),
        }

    total: dict[str, float] = defaultdict(float)
    for c in spec["containers"]:
        for k, v in usage(c).items():
            total[k] += v
    for c in spec.get("initContainers") or []:
        for k, v in usage(c).items():
            total[k] = max(total[k], v)
    return total


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_workloads_fit_their_namespace_quota(stack_run: Callable[[str], Run], stack: str) -> None:
    run = stack_run(stack)
    nodes = int(run.outputs["costModel"]["daemonSetNodes"])
    hpa_max = {
        r.inputs["spec"]["scaleTargetRef"]["name"]: r.inputs["spec"]["maxReplicas"]
        for r in run.by_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
    }
    defaults: dict[str, dict[str, dict[str, str]]] = {}
    for lr in run.by_type("kubernetes:core/v1:LimitRange"):
        (limit,) = lr.inputs["spec"]["limits"]
        defaults[lr.inputs["metadata"]["namespace"]] = {"request": limit["defaultRequest"], "limit": limit["default"]}
    used: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    pods: dict[str, float] = defaultdict(float)
    for res in run.resources:
        if res.type not in WORKLOADS:
            continue
        ns = res.inputs["metadata"]["namespace"]
        spec = res.inputs["spec"]
        kind = res.inputs["kind"]
        replicas = float(spec.get("replicas", 1))
        if kind == "DaemonSet":
            count = float(nodes)
        elif kind == "Rollout":
            count = max(replicas, hpa_max.get(res.inputs["metadata"]["name"], 0)) * 2  # stable + full canary
        elif kind == "Deployment":
            count = max(replicas, hpa_max.get(res.inputs["metadata"]["name"], 0)) + math.ceil(replicas * 0.25)
        else:
            count = replicas
        for k, v in _pod(spec["template"]["spec"], defaults[ns]).items():
            used[ns][k] += v * count
        pods[ns] += count
    for quota in run.by_type("kubernetes:core/v1:ResourceQuota"):
        ns = quota.inputs["metadata"]["namespace"]
        hard = quota.inputs["spec"]["hard"]
        limits = {
            "requests.cpu": cpu_millicores(hard["requests.cpu"]),
            "limits.cpu": cpu_millicores(hard["limits.cpu"]),
            "requests.memory": memory_bytes(hard["requests.memory"]),
            "limits.memory": memory_bytes(hard["limits.memory"]),
        }
        for key, cap in limits.items():
            assert used[ns][key] <= cap, f"{stack}: namespace {ns} needs {key} {used[ns][key]:.0f} > quota {cap}"
        assert pods[ns] <= int(hard["pods"]), f"{stack}: namespace {ns} runs up to {pods[ns]} pods > {hard['pods']}"
