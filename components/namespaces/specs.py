"""Which namespaces the platform creates and how each is labelled (pure data)."""

from __future__ import annotations

from dataclasses import dataclass

from components import conventions as cv
from components.config import Resources, Settings


@dataclass(frozen=True)
class NamespaceSpec:
    name: str
    purpose: str
    pod_security: str  # restricted | baseline | privileged
    team: str
    cost_center: str
    scraped: bool = True  # allow Prometheus (monitoring namespace) in
    quota: Resources | None = None  # None: the platform-wide namespaceQuota

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


def platform_namespaces(settings: Settings) -> list[NamespaceSpec]:
    ns = settings.namespaces
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
        NamespaceSpec(
            ns.app,
            f"the {settings.app.name} service",
            "restricted",
            ns.app_team,
            ns.app_cost_center,
            quota=ns.app_quota,
        ),
    ]
