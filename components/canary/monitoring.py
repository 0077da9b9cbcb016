"""What progressive delivery hands to Monitoring: the controller's scrape job, rollout alerts and the
rollout dashboard (``monitoring_addons(settings)``).

Metric names are the Argo Rollouts v1.9 controller's (controller/metrics/prommetrics.go):
``rollout_info{namespace, name, strategy, traffic_router, phase}`` = 1, phase one of Completed,
Progressing, Paused, Timeout, Error, Abort, InvalidSpec; ``rollout_info_replicas_{desired,available,
unavailable,updated}``; ``analysis_run_info{namespace, name, phase}`` and
``analysis_run_metric_phase{namespace, name, metric, type, dry_run, phase}`` (1 for the current phase).
Every alert's runbook is a heading of docs/PROGRESSIVE_DEPLOYMENT_GUIDE.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from grafana_foundation_sdk.builders import dashboard as db

from components import conventions as cv
from components.addons import MonitoringAddOns
from components.canary import specs
from components.config import Settings
from components.monitoring.alert import alert_rule
from components.monitoring.dashboards.common import (
    graph,
    instant_table,
    label_variable,
    new_dashboard,
    single_stat,
    to_dict,
)
from components.monitoring.rules import validate_rule_group
from components.monitoring.specs import DashboardSpec, ScrapeTarget
from components.service.spec import ServiceSpec

GUIDE = "PROGRESSIVE_DEPLOYMENT_GUIDE.md"
SCRAPE_JOB = "argo-rollouts"
RULE_GROUP = "progressive-delivery"
DASHBOARD_UID = "hardening-rollouts"
DASHBOARD_TITLE = "Progressive delivery"
ABORT_PHASES = ("Abort",)
DEGRADED_PHASES = ("Error", "Timeout", "InvalidSpec")
ALERT_ABORTED = "CanaryRolloutAborted"
ALERT_DEGRADED = "CanaryRolloutDegraded"
ALERT_CONTROLLER_DOWN = "ArgoRolloutsControllerDown"


def controller_scrape_target() -> ScrapeTarget:
    return ScrapeTarget(
        SCRAPE_JOB, cv.NS_ROLLOUTS, {cv.LABEL_NAME: specs.CONTROLLER}, specs.CONTROLLER_METRICS_PORT_NAME
    )


def rule_group(
    runbook_base_url: str, *, aborted_for: str = "30s", degraded_for: str = "2m", controller_down_for: str = "5m"
) -> dict[str, Any]:
    """Alerts on every Rollout of the cluster (aborted, degraded) and on the controller itself."""

    def phases(values: tuple[str, ...]) -> str:
        return "|".join(values)

    def alert(name: str, severity: str, expr: str, for_: str, summary: str, description: str) -> dict[str, Any]:
        return alert_rule(
            name,
            expr,
            severity=severity,
            for_=for_,
            summary=summary,
            description=description,
            runbook_base_url=runbook_base_url,
            guide=GUIDE,
        )

    group = {
        "name": RULE_GROUP,
        "rules": [
            alert(
                ALERT_ABORTED,
                "warning",
                f'max by (namespace, name) (rollout_info{{phase=~"{phases(ABORT_PHASES)}"}}) == 1',
                aborted_for,
                "Rollout {{ $labels.namespace }}/{{ $labels.name }} was aborted",
                "Argo Rollouts aborted the update of {{ $labels.name }} in {{ $labels.namespace }} (failed analysis "
                "or a manual abort): traffic is back on the stable version; the new version is not deployed.",
            ),
            alert(
                ALERT_DEGRADED,
                "critical",
                f'max by (namespace, name, phase) (rollout_info{{phase=~"{phases(DEGRADED_PHASES)}"}}) == 1',
                degraded_for,
                "Rollout {{ $labels.namespace }}/{{ $labels.name }} is degraded ({{ $labels.phase }})",
                "Rollout {{ $labels.name }} in {{ $labels.namespace }} is in phase {{ $labels.phase }}: its spec is "
                "invalid, its ReplicaSet cannot be created or it missed its progress deadline.",
            ),
            alert(
                ALERT_CONTROLLER_DOWN,
                "critical",
                f'absent(up{{job="{SCRAPE_JOB}"}} == 1)',
                controller_down_for,
                "The Argo Rollouts controller is down",
                "No Argo Rollouts controller target is up: rollouts neither progress nor abort, and a bad canary "
                "keeps its traffic share.",
            ),
        ],
    }
    validate_rule_group(group, RULE_GROUP)
    return group


def rollout_dashboard(services: Sequence[ServiceSpec]) -> dict[str, Any]:
    """Phase, canary weight (replicas and observed traffic), analysis results and the canary's SLIs, of the
    Rollout the dashboard's ``namespace`` and ``service`` variables pick (no literal name: every service)."""
    ns, app = "$namespace", "$service"
    thresholds = ", ".join(
        f"{s.name} {s.thresholds.error_ratio:.2%} / {s.thresholds.latency_p95_seconds} s" for s in services
    )
    ro = f'namespace="{ns}", name="{app}"'
    sli = f'namespace="{ns}", {cv.LABEL_APP}="{app}"'
    hash_label = cv.ROLLOUTS_HASH_SERIES_LABEL
    d_board = (
        new_dashboard(
            DASHBOARD_UID,
            DASHBOARD_TITLE,
            f"Argo Rollouts: the picked Rollout's phase, canary weight and analysis (docs/{GUIDE}).",
        )
        .with_variable(label_variable("namespace", "Namespace", "rollout_info", multi=False, include_all=False))
        .with_variable(
            label_variable(
                "service",
                "Rollout",
                'rollout_info{namespace="$namespace"}',
                multi=False,
                include_all=False,
                source="name",
            )
        )
        .with_row(db.Row("Rollout").id(1))
        .with_panel(
            instant_table(
                2,
                "Phase",
                f"max by (phase, strategy, traffic_router) (rollout_info{{{ro}}})",
                span=12,
                height=5,
                description="Completed, Progressing, Paused, Abort, Error, Timeout or InvalidSpec.",
            )
        )
        .with_panel(
            single_stat(
                3,
                "Aborted",
                f'max(rollout_info{{{ro}, phase="Abort"}}) or vector(0)',
                "short",
                [(None, "green"), (1, "red")],
                span=6,
                height=5,
                description=f"1 = the last update was aborted ({GUIDE}#abort).",
            )
        )
        .with_panel(
            single_stat(
                4,
                "Controller up",
                f'max(up{{job="{SCRAPE_JOB}"}}) or vector(0)',
                "short",
                [(None, "red"), (1, "green")],
                span=6,
                height=5,
            )
        )
        .with_panel(graph(5, "Phase over time", [(f"max by (phase) (rollout_info{{{ro}}})", "{{phase}}")], "short"))
        .with_panel(
            graph(
                6,
                "Replicas",
                [
                    (f"max(rollout_info_replicas_desired{{{ro}}})", "desired"),
                    (f"max(rollout_info_replicas_updated{{{ro}}})", "updated (new version)"),
                    (f"max(rollout_info_replicas_available{{{ro}}})", "available"),
                    (f"max(rollout_info_replicas_unavailable{{{ro}}})", "unavailable"),
                ],
                "short",
            )
        )
        .with_row(db.Row("Canary weight").id(7))
        .with_panel(
            graph(
                8,
                "Observed traffic share per ReplicaSet",
                [
                    (
                        f"sum by ({hash_label}) ({cv.SLI_REQUEST_RATE_BY_HASH}{{{sli}}})\n/ ignoring ({hash_label}) "
                        f"group_left\nsum({cv.SLI_REQUEST_RATE_BY_HASH}{{{sli}}})",
                        f"{{{{{hash_label}}}}}",
                    )
                ],
                "percentunit",
                description="Share of requests each ReplicaSet (pod template hash) served over 5 minutes: the "
                "canary weight as the users see it.",
            )
        )
        .with_panel(
            graph(
                9,
                "Updated replicas share",
                [
                    (
                        f"max(rollout_info_replicas_updated{{{ro}}}) / max(rollout_info_replicas_desired{{{ro}}})",
                        "updated / desired",
                    )
                ],
                "percentunit",
                description="Replica-weighted canaries: the weight is this share of the replicas.",
            )
        )
        .with_row(db.Row("Analysis").id(10))
        .with_panel(
            instant_table(
                11,
                "Analysis runs (current phase)",
                f'max by (name, phase) (analysis_run_info{{namespace="{ns}"}})',
                span=12,
            )
        )
        .with_panel(
            instant_table(
                12,
                "Analysis metrics (current phase)",
                f'max by (name, metric, phase) (analysis_run_metric_phase{{namespace="{ns}"}} == 1)',
                span=12,
            )
        )
        .with_panel(
            graph(
                13,
                "Canary vs stable error ratio",
                [(f"max by ({hash_label}) ({cv.SLI_ERROR_RATIO_BY_HASH}{{{sli}}})", f"{{{{{hash_label}}}}}")],
                "percentunit",
                description=f"The analysis fails a measurement at the service's error ratio threshold ({thresholds}).",
            )
        )
        .with_panel(
            graph(
                14,
                "Canary vs stable P95 latency",
                [(f"max by ({hash_label}) ({cv.SLI_P95_BY_HASH}{{{sli}}})", f"{{{{{hash_label}}}}}")],
                "s",
                description=f"The analysis fails a measurement at the service's P95 threshold ({thresholds}).",
            )
        )
    )
    return to_dict(d_board)


def monitoring_addons(settings: Settings, services: Sequence[ServiceSpec]) -> MonitoringAddOns:
    return MonitoringAddOns(
        scrape_targets=(controller_scrape_target(),),
        rule_groups=(rule_group(settings.monitoring.runbook_base_url),),
        dashboards=(DashboardSpec(DASHBOARD_UID, DASHBOARD_TITLE, rollout_dashboard(services)),),
    )
