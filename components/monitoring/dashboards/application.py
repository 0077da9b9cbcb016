"""Application dashboard: request rate, error ratio, latency percentiles, in-flight, canary vs stable.

It reads the SLI recording rules (the same definitions the alerts and the canary analysis use) and the
app's raw metrics for the percentiles other than P95. The error-ratio panels link to the logs dashboard
(Logging component) filtered on the series' namespace and app and on level=error.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as db

from components import conventions as cv
from components.monitoring import names
from components.monitoring.dashboards.common import (
    graph,
    instant_table,
    label_variable,
    new_dashboard,
    single_stat,
    thresholds,
    to_dict,
)

UID = names.DASHBOARD_UID_APPLICATION
TITLE = "Application"
_SEL = 'namespace=~"$namespace", app=~"$app"'


def logs_link(logs_dashboard_uid: str = names.DASHBOARD_UID_LOGS) -> db.DashboardLink:
    """Data link from a series to its error logs (variables namespace, app and level of the logs dashboard)."""
    return (
        db.DashboardLink("Error logs of ${__field.labels.app}")
        .url(
            f"/d/{logs_dashboard_uid}/logs?var-namespace=${{__field.labels.namespace}}"
            "&var-app=${__field.labels.app}&var-level=error&${__url_time_range}"
        )
        .target_blank(False)
    )


def application_dashboard(
    *,
    error_ratio_objective: float = cv.ERROR_RATIO_OBJECTIVE,
    latency_objective_seconds: float = cv.P95_LATENCY_OBJECTIVE_SECONDS,
    logs_dashboard_uid: str = names.DASHBOARD_UID_LOGS,
) -> dict[str, Any]:
    bucket = f"rate({cv.METRIC_DURATION}_bucket{{{_SEL}}}[$__rate_interval])"
    percentiles = [
        (
            f"histogram_quantile({q}, sum by (namespace, app, le) ({bucket}))",
            f"P{int(q * 100)} {{{{namespace}}}}/{{{{app}}}}",
        )
        for q in (0.5, 0.9, 0.95, 0.99)
    ]
    link = logs_link(logs_dashboard_uid)
    d = (
        new_dashboard(UID, TITLE, "Traffic, errors and latency of the services (SLIs recorded by Prometheus).")
        .with_variable(label_variable("namespace", "Namespace", cv.SLI_REQUEST_RATE))
        .with_variable(label_variable("app", "App", f'{cv.SLI_REQUEST_RATE}{{namespace=~"$namespace"}}'))
        .with_row(db.Row("Service level objectives").id(1))
        .with_panel(
            single_stat(
                2,
                "Error ratio (5m)",
                f"max({cv.SLI_ERROR_RATIO}{{{_SEL}}})",
                "percentunit",
                [(None, "green"), (error_ratio_objective, "red")],
                description="Share of 5xx responses over 5 minutes; the alert fires above "
                f"{error_ratio_objective:.0%}.",
            ).data_links([link])
        )
        .with_panel(
            single_stat(
                3,
                "P95 latency (5m)",
                f"max({cv.SLI_P95}{{{_SEL}}})",
                "s",
                [(None, "green"), (latency_objective_seconds, "red")],
                description=f"Objective: at most {latency_objective_seconds} s.",
            )
        )
        .with_panel(single_stat(4, "Request rate", f"sum({cv.SLI_REQUEST_RATE}{{{_SEL}}})", "reqps", [(None, "blue")]))
        .with_panel(
            single_stat(5, "In-flight requests", f"sum({cv.METRIC_IN_FLIGHT}{{{_SEL}}})", "short", [(None, "blue")])
        )
        .with_row(db.Row("Traffic and errors").id(6))
        .with_panel(
            graph(
                7,
                "Request rate by status",
                [
                    (
                        f"sum by (namespace, app, status) (rate({cv.METRIC_REQUESTS}{{{_SEL}}}[$__rate_interval]))",
                        "{{app}} {{status}}",
                    )
                ],
                "reqps",
            )
        )
        .with_panel(
            graph(
                8,
                "Error ratio (5xx, 5m)",
                [(f"{cv.SLI_ERROR_RATIO}{{{_SEL}}}", "{{namespace}}/{{app}}")],
                "percentunit",
                description="Click a series to open its error logs.",
            )
            .thresholds(thresholds((None, "green"), (error_ratio_objective, "red")))
            .data_links([link])
        )
        .with_row(db.Row("Latency and concurrency").id(9))
        .with_panel(graph(10, "Latency percentiles (P50, P90, P95, P99)", percentiles, "s"))
        .with_panel(
            graph(
                11,
                "In-flight requests by pod",
                [(f"sum by (pod) ({cv.METRIC_IN_FLIGHT}{{{_SEL}}})", "{{pod}}")],
                "short",
            )
        )
        .with_row(db.Row("Canary vs stable (per ReplicaSet hash)").id(12))
        .with_panel(
            graph(
                13,
                "Request rate by ReplicaSet",
                [(f"{cv.SLI_REQUEST_RATE_BY_HASH}{{{_SEL}}}", f"{{{{app}}}} {{{{{cv.ROLLOUTS_HASH_SERIES_LABEL}}}}}")],
                "reqps",
                span=8,
            )
        )
        .with_panel(
            graph(
                14,
                "Error ratio by ReplicaSet",
                [(f"{cv.SLI_ERROR_RATIO_BY_HASH}{{{_SEL}}}", f"{{{{app}}}} {{{{{cv.ROLLOUTS_HASH_SERIES_LABEL}}}}}")],
                "percentunit",
                span=8,
            ).data_links([link])
        )
        .with_panel(
            graph(
                15,
                "P95 latency by ReplicaSet",
                [(f"{cv.SLI_P95_BY_HASH}{{{_SEL}}}", f"{{{{app}}}} {{{{{cv.ROLLOUTS_HASH_SERIES_LABEL}}}}}")],
                "s",
                span=8,
            )
        )
        .with_row(db.Row("Build and business").id(16))
        .with_panel(
            graph(
                17,
                "Orders created",
                [
                    (
                        f"sum by (namespace, app) (rate({cv.METRIC_ORDERS_CREATED}{{{_SEL}}}[$__rate_interval]))",
                        "{{app}}",
                    )
                ],
                "ops",
                span=12,
            )
        )
        .with_panel(
            instant_table(
                18,
                "Running versions",
                f"count by (namespace, app, version, commit) ({cv.METRIC_BUILD_INFO}{{{_SEL}}})",
                span=12,
            )
        )
    )
    return to_dict(d)
