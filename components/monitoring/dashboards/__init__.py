"""Grafana dashboards built with grafana-foundation-sdk; each module returns a dashboard JSON dict.

``builtin_dashboards(...)`` returns Monitoring's own dashboards as ``DashboardSpec``s; the Vault, logs,
cost and rollout dashboards come from their components through the Monitoring args. ``collect_promql``
lists every PromQL expression of a dashboard (tests evaluate them on a real Prometheus).
"""

from __future__ import annotations

from components import conventions as cv
from components.monitoring import names
from components.monitoring.dashboards.alerts import alerts_dashboard
from components.monitoring.dashboards.application import application_dashboard
from components.monitoring.dashboards.common import collect_promql, for_prometheus
from components.monitoring.dashboards.infrastructure import infrastructure_dashboard
from components.monitoring.dashboards.platform import (
    alertmanager_dashboard,
    node_dashboard,
    prometheus_dashboard,
    volumes_dashboard,
)
from components.monitoring.dashboards.slo import slo_dashboard
from components.monitoring.specs import DashboardSpec

__all__ = ["builtin_dashboards", "collect_promql", "for_prometheus"]


def builtin_dashboards(
    *,
    error_ratio_objective: float = cv.ERROR_RATIO_OBJECTIVE,
    latency_objective_seconds: float = cv.P95_LATENCY_OBJECTIVE_SECONDS,
    logs_dashboard_uid: str = names.DASHBOARD_UID_LOGS,
) -> list[DashboardSpec]:
    """Application, infrastructure, alerts overview, SLOs, Prometheus, Alertmanager, node resources,
    persistent volumes dashboards (Vault's, the logs', cost's and the rollouts' come from their areas)."""
    models = [
        application_dashboard(
            error_ratio_objective=error_ratio_objective,
            latency_objective_seconds=latency_objective_seconds,
            logs_dashboard_uid=logs_dashboard_uid,
        ),
        infrastructure_dashboard(),
        alerts_dashboard(),
        slo_dashboard(),
        prometheus_dashboard(),
        alertmanager_dashboard(),
        node_dashboard(),
        volumes_dashboard(),
    ]
    return [DashboardSpec(uid=m["uid"], title=m["title"], json=m) for m in models]
