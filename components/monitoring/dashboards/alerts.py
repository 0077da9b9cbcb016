"""Alerts overview: what fires now, what fired recently, and whether notifications get out."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as db

from components.monitoring import names
from components.monitoring.dashboards.common import graph, instant_table, new_dashboard, single_stat, to_dict

UID = names.DASHBOARD_UID_ALERTS
TITLE = "Alerts overview"


def alerts_dashboard() -> dict[str, Any]:
    d = (
        new_dashboard(UID, TITLE, "Firing and pending alerts (ALERTS series) and Alertmanager notifications.")
        .with_row(db.Row("Now").id(1))
        .with_panel(
            single_stat(
                2,
                "Critical firing",
                'count(ALERTS{alertstate="firing", severity="critical"}) or vector(0)',
                "short",
                [(None, "green"), (1, "red")],
                span=8,
            )
        )
        .with_panel(
            single_stat(
                3,
                "Warning firing",
                'count(ALERTS{alertstate="firing", severity="warning"}) or vector(0)',
                "short",
                [(None, "green"), (1, "orange")],
                span=8,
            )
        )
        .with_panel(
            single_stat(
                4,
                "Pending",
                'count(ALERTS{alertstate="pending"}) or vector(0)',
                "short",
                [(None, "green"), (1, "yellow")],
                span=8,
            )
        )
        .with_panel(
            instant_table(
                5,
                "Firing alerts",
                'ALERTS{alertstate="firing"}',
                description="Every firing alert with its labels; the runbook is linked from the "
                "notification and from docs/MONITORING_GUIDE.md.",
            )
        )
        .with_row(db.Row("History").id(6))
        .with_panel(
            graph(
                7,
                "Firing alerts by name",
                [('sum by (alertname, severity) (ALERTS{alertstate="firing"})', "{{alertname}} ({{severity}})")],
                "short",
                span=24,
            )
        )
        .with_row(db.Row("Delivery").id(8))
        .with_panel(
            graph(
                9,
                "Notifications sent by integration",
                [
                    (
                        "sum by (integration) (rate(alertmanager_notifications_total[$__rate_interval]))",
                        "{{integration}}",
                    )
                ],
                "ops",
            )
        )
        .with_panel(
            graph(
                10,
                "Failed notifications by integration",
                [
                    (
                        "sum by (integration) (rate(alertmanager_notifications_failed_total[$__rate_interval]))",
                        "{{integration}}",
                    )
                ],
                "ops",
            )
        )
        .with_panel(
            graph(
                11,
                "Alerts received by Alertmanager",
                [("sum by (status) (rate(alertmanager_alerts_received_total[$__rate_interval]))", "{{status}}")],
                "ops",
            )
        )
        .with_panel(
            graph(
                12,
                "Rule evaluation failures",
                [("sum by (rule_group) (increase(prometheus_rule_evaluation_failures_total[5m]))", "{{rule_group}}")],
                "short",
            )
        )
    )
    return to_dict(d)
