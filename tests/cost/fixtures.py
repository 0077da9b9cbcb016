"""A hand-priced plan: every figure in the tests below is computed by hand in the comments."""

from __future__ import annotations

import copy
from typing import Any

PRICES = {
    "cpuCoreHourly": 0.04,
    "memoryGibHourly": 0.005,
    "storageGibMonthly": 0.1,
    "loadBalancerHourly": 0.02,
    "daemonSetNodes": 3,
    "currency": "USD",
    "hoursPerMonth": 730.0,
    "increaseThresholdPercent": 20.0,
}
APP = "urn:pulumi:t::p::hardening:app:App::app"


def _res(type_: str, name: str, inputs: dict[str, Any], parent: str | None = None) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:t::p::{type_}::{name}",
        "type": type_,
        "name": name,
        "parent": parent,
        "custom": True,
        "inputs": inputs,
    }


def _pod(containers: list[dict[str, Any]], init: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": containers}
    if init:
        spec["initContainers"] = init
    return {"metadata": {"labels": {"a": "b"}}, "spec": spec}


def _c(name: str, cpu: str | None = None, mem: str | None = None) -> dict[str, Any]:
    req = {k: v for k, v in (("cpu", cpu), ("memory", mem)) if v}
    return {"name": name, "image": "x:1", "resources": {"requests": req} if req else {}}


def plan() -> dict[str, Any]:
    return copy.deepcopy(
        {
            "project": "p",
            "stack": "t",
            "outputs": {"costModel": PRICES},
            "resources": [
                {"urn": APP, "type": "hardening:app:App", "name": "app", "parent": None, "custom": False, "inputs": {}},
                _res("kubernetes:core/v1:Namespace", "web", {"metadata": {"name": "web", "labels": {"team": "web"}}}),
                _res(
                    "kubernetes:core/v1:Namespace", "ops", {"metadata": {"name": "ops", "labels": {"team": "platform"}}}
                ),
                _res(
                    "kubernetes:core/v1:LimitRange",
                    "ops-defaults",
                    {
                        "metadata": {"name": "d", "namespace": "ops"},
                        "spec": {
                            "limits": [
                                {
                                    "type": "Container",
                                    "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
                                    "default": {"cpu": "1", "memory": "1Gi"},
                                }
                            ]
                        },
                    },
                ),
                # 2 x (0.25 CPU, 0.5 GiB): CPU 0.5 x 0.04 x 730 = 14.60, memory 1 x 0.005 x 730 = 3.65 -> 18.25
                _res(
                    "kubernetes:apps/v1:Deployment",
                    "api",
                    {
                        "metadata": {"name": "api", "namespace": "web"},
                        "spec": {"replicas": 2, "template": _pod([_c("api", "250m", "512Mi")])},
                    },
                    APP,
                ),
                # no requests -> LimitRange defaultRequest 100m/128Mi, on 3 nodes:
                # CPU 0.3 x 0.04 x 730 = 8.76, memory 0.375 x 0.005 x 730 = 1.36875 -> 10.12875
                _res(
                    "kubernetes:apps/v1:DaemonSet",
                    "agent",
                    {"metadata": {"name": "agent", "namespace": "ops"}, "spec": {"template": _pod([_c("agent")])}},
                ),
                # 2 x (1 CPU, 2 GiB) + 2 x 10 GiB: 58.40 + 14.60 + 2.00 -> 75.00
                _res(
                    "kubernetes:apps/v1:StatefulSet",
                    "db",
                    {
                        "metadata": {"name": "db", "namespace": "ops"},
                        "spec": {
                            "replicas": 2,
                            "template": _pod([_c("db", "1", "2Gi")]),
                            "volumeClaimTemplates": [
                                {"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "10Gi"}}}}
                            ],
                        },
                    },
                    APP,
                ),
                # 5 GiB x 0.1 -> 0.50
                _res(
                    "kubernetes:core/v1:PersistentVolumeClaim",
                    "data",
                    {
                        "metadata": {"name": "data", "namespace": "web"},
                        "spec": {"resources": {"requests": {"storage": "5Gi"}}},
                    },
                ),
                # 0.02 x 730 -> 14.60
                _res(
                    "kubernetes:core/v1:Service",
                    "lb",
                    {"metadata": {"name": "lb", "namespace": "web"}, "spec": {"type": "LoadBalancer"}},
                ),
                _res(
                    "kubernetes:core/v1:Service",
                    "internal",
                    {"metadata": {"name": "internal", "namespace": "web"}, "spec": {"type": "ClusterIP"}},
                ),
                _res(
                    "kubernetes:batch/v1:Job",
                    "migrate",
                    {
                        "metadata": {"name": "migrate", "namespace": "ops"},
                        "spec": {"template": _pod([_c("m", "4", "8Gi")])},
                    },
                ),
            ],
        }
    )


TOTAL = 18.25 + 10.12875 + 75.0 + 0.5 + 14.6  # 118.47875
BY_COMPONENT = {"App/app": 18.25 + 75.0, "(stack)": 10.12875 + 0.5 + 14.6}
BY_TEAM = {"web": 18.25 + 0.5 + 14.6, "platform": 10.12875 + 75.0}
BY_NAMESPACE = {"web": 18.25 + 0.5 + 14.6, "ops": 10.12875 + 75.0}


def head_plan() -> dict[str, Any]:
    """The PR's plan: api goes to 3 replicas (+9.125) and a new component adds a 0.5 CPU deployment."""
    p = plan()
    for r in p["resources"]:
        if r["name"] == "api":
            r["inputs"]["spec"]["replicas"] = 3
    p["resources"].append(
        {
            "urn": "urn:pulumi:t::p::hardening:cache:Cache::cache",
            "type": "hardening:cache:Cache",
            "name": "cache",
            "parent": None,
            "custom": False,
            "inputs": {},
        }
    )
    p["resources"].append(
        _res(
            "kubernetes:apps/v1:Deployment",
            "cache",
            {
                "metadata": {"name": "cache", "namespace": "web"},
                "spec": {"replicas": 1, "template": _pod([_c("cache", "500m", "1Gi")])},
            },
            "urn:pulumi:t::p::hardening:cache:Cache::cache",
        )
    )
    return p
