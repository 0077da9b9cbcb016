"""Which namespaces the platform creates and how each is labelled (pure data)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from components import conventions as cv
from components.config import NamespaceSettings, Resources, cpu_millicores, memory_bytes
from components.service.spec import ServiceSpec


@dataclass(frozen=True)
class NamespaceSpec:
    name: str
    purpose: str
    pod_security: str  # restricted | baseline | privileged
    team: str
    cost_center: str
    scraped: bool = True  # allow Prometheus (monitoring namespace) in
    quota: Resources | None = None  # None: the platform-wide namespaceQuota
    max_pods: int | None = None  # None: the platform-wide namespaceMaxPods

    def labels(self) -> dict[str, str]:
        return {
            "kubernetes.io/metadata.name": self.name,
            "pod-security.kubernetes.io/enforce": self.pod_security,
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/audit": "restricted",
            cv.LABEL_TEAM: self.team,
            cv.LABEL_COST_CENTER: self.cost_center,
            cv.LABEL_PART_OF: cv.PART_OF,
            cv.LABEL_MANAGED_BY: "pulumi",
        }


def platform_namespaces(ns: NamespaceSettings) -> list[NamespaceSpec]:
    team, cc = ns.team, ns.cost_center
    return [
        NamespaceSpec(
            cv.NS_MONITORING, "Prometheus, Alertmanager, Grafana, kube-state-metrics", "restricted", team, cc
        ),
        # node-exporter reads the host's /proc and /sys in the host's PID and network namespaces: the one
        # workload that cannot run under 'restricted', so it gets a namespace of its own.
        NamespaceSpec(cv.NS_NODE_EXPORTER, "node-exporter (host metrics)", "privileged", team, cc),
        NamespaceSpec(cv.NS_LOGGING, "Loki and the Alloy log collector", "restricted", team, cc),
        # Vault 2.x's binary carries the cap_ipc_lock file capability, so its container must add IPC_LOCK,
        # which only the 'privileged' Pod Security level admits; everything else in it stays restricted.
        NamespaceSpec(cv.NS_VAULT, "Vault servers", "privileged", team, cc),
        NamespaceSpec(cv.NS_COST, "OpenCost", "restricted", team, cc),
        NamespaceSpec(cv.NS_ROLLOUTS, "Argo Rollouts controller", "restricted", team, cc),
    ]


# Headroom on top of the worst case a namespace's services reach (HPA maximum plus a full canary ReplicaSet).
QUOTA_HEADROOM = 1.25


def _millis(total: float) -> str:
    return f"{math.ceil(total)}m"


def _mebis(total: float) -> str:
    return f"{math.ceil(total / 1024**2)}Mi"


def service_quota(services: Sequence[ServiceSpec], sidecar: Resources | None = None) -> tuple[Resources, int]:
    """(ResourceQuota, pod count) for a namespace holding ``services``: every service at its HPA maximum (or
    its replicas) plus a full canary ReplicaSet (the stable ReplicaSet keeps its size while an NGINX-routed
    canary scales up to the last weight), each pod with its Vault Agent sidecar, times ``QUOTA_HEADROOM``."""
    cpu_req = cpu_lim = mem_req = mem_lim = 0.0
    pods = 0
    for s in services:
        n = 2 * max(s.replicas, s.max_replicas)
        r = s.container.resources
        per = [(r.cpu_request, r.memory_request, r.cpu_limit, r.memory_limit)]
        if sidecar is not None and s.secrets_delivery.mode == "agent" and s.secrets:
            per.append((sidecar.cpu_request, sidecar.memory_request, sidecar.cpu_limit, sidecar.memory_limit))
        for cr, mr, cl, ml in per:
            cpu_req += n * cpu_millicores(cr)
            cpu_lim += n * cpu_millicores(cl)
            mem_req += n * memory_bytes(mr)
            mem_lim += n * memory_bytes(ml)
        pods += n
    h = QUOTA_HEADROOM
    quota = Resources(_millis(cpu_req * h), _mebis(mem_req * h), _millis(cpu_lim * h), _mebis(mem_lim * h))
    return quota, math.ceil(pods * h)


def service_namespaces(services: Sequence[ServiceSpec], sidecar: Resources | None = None) -> list[NamespaceSpec]:
    """One namespace per distinct ``namespace`` of the services (a team's services may share one), labelled
    with the owning team and cost center, its quota sized from what it holds."""
    by_ns: dict[str, list[ServiceSpec]] = {}
    for s in services:
        by_ns.setdefault(s.namespace, []).append(s)
    out = []
    for name, members in by_ns.items():
        quota, pods = service_quota(members, sidecar)
        out.append(
            NamespaceSpec(
                name,
                "services: " + ", ".join(s.name for s in members),
                "restricted",
                members[0].team,
                members[0].cost_center,
                quota=quota,
                max_pods=pods,
            )
        )
    return out
