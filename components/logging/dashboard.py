"""The logs dashboard (grafana-foundation-sdk): log volume by level and namespace, error log rate, the
log pipeline's health, and a live logs panel filtered by namespace, app and level.

Its uid and variables are the ones the application dashboard's error panel links to
(``names.DASHBOARD_UID_LOGS``, ``names.LOGS_DASHBOARD_VARIABLES``: ``var-namespace``, ``var-app``,
``var-level``), so "Error logs of <app>" lands on that app's error lines.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import logs, loki, timeseries
from grafana_foundation_sdk.models.common import DataSourceRef, GraphDrawStyle, LogsSortOrder, StackingMode
from grafana_foundation_sdk.models.dashboard import VariableRefresh, VariableSort

from components.logging import names as lnames
from components.logging.alloy_config import LEVEL_LABEL
from components.monitoring import names
from components.monitoring.dashboards.common import graph, new_dashboard, to_dict

UID = names.DASHBOARD_UID_LOGS
TITLE = "Logs"  # the application dashboard links to /d/<uid>/logs
LOKI = DataSourceRef(type_val="loki", uid=names.LOKI_DATASOURCE_UID)
NAMESPACE_VAR, APP_VAR, LEVEL_VAR = names.LOGS_DASHBOARD_VARIABLES
# Loki rejects a selector whose every matcher matches the empty string: every stream has a namespace,
# so "All" namespaces is ".+"; app and level may be absent on a stream, so their "All" is ".*".
ALL_VALUES = {NAMESPACE_VAR: ".+", APP_VAR: ".*", LEVEL_VAR: ".*"}
ERROR_LEVELS = ("error", "critical")


def stream_selector(*, level: str | None = None) -> str:
    """``{namespace=~"$namespace", app=~"$app", level=~"$level"}``; ``level`` replaces the level matcher."""
    level_matcher = f'{LEVEL_LABEL}=~"{level}"' if level is not None else f'{LEVEL_LABEL}=~"${LEVEL_VAR}"'
    return f'{{namespace=~"${NAMESPACE_VAR}", app=~"${APP_VAR}", {level_matcher}}}'


def _logql(expr: str, legend: str = "", ref: str = "A") -> loki.Dataquery:
    q = loki.Dataquery().expr(expr).ref_id(ref).datasource(LOKI)
    if legend:
        q = q.legend_format(legend)
    return q


def _variable(name: str, label: str, query: str) -> db.QueryVariable:
    return (
        db.QueryVariable(name)
        .label(label)
        .datasource(LOKI)
        .query(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(ALL_VALUES[name])
    )


def _volume(panel_id: int, title: str, by: str, description: str) -> timeseries.Panel:
    expr = f"sum by ({by}) (count_over_time({stream_selector()} [$__auto]))"
    return (
        timeseries.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(LOKI)
        .with_target(_logql(expr, f"{{{{{by}}}}}"))
        .unit("short")
        .span(12)
        .height(8)
        .draw_style(GraphDrawStyle.BARS)
        .fill_opacity(80)
        .stacking(cb.StackingConfig().mode(StackingMode.NORMAL))
    )


def logs_dashboard() -> dict[str, Any]:
    """The dashboard JSON model (uid ``names.DASHBOARD_UID_LOGS``)."""
    errors = f"sum by (namespace, app) (rate({stream_selector(level='|'.join(ERROR_LEVELS))} [$__auto]))"
    loki_job = f'job="{lnames.LOKI_JOB}"'
    alloy_job = f'job="{lnames.ALLOY_JOB}"'
    d = (
        new_dashboard(
            UID,
            TITLE,
            "Every pod's logs, collected by Alloy into Loki: volume, errors and the "
            "live log lines of a namespace, app and level.",
        )
        .with_variable(_variable(NAMESPACE_VAR, "Namespace", "label_values(namespace)"))
        .with_variable(_variable(APP_VAR, "App", f'label_values({{namespace=~"${NAMESPACE_VAR}"}}, app)'))
        .with_variable(
            _variable(
                LEVEL_VAR, "Level", f'label_values({{namespace=~"${NAMESPACE_VAR}", app=~"${APP_VAR}"}}, {LEVEL_LABEL})'
            )
        )
        .with_row(db.Row("Volume").id(1))
        .with_panel(
            _volume(
                2,
                "Log volume by level",
                LEVEL_LABEL,
                "Log lines per interval by level (JSON apps only; other pods have no level).",
            )
        )
        .with_panel(_volume(3, "Log volume by namespace", "namespace", "Log lines per interval by namespace."))
        .with_row(db.Row("Errors and pipeline").id(4))
        .with_panel(
            timeseries.Panel()
            .id(5)
            .title("Error log rate")
            .datasource(LOKI)
            .description("Lines per second at level " + " or ".join(ERROR_LEVELS) + ", by app.")
            .with_target(_logql(errors, "{{namespace}}/{{app}}"))
            .unit("short")
            .min(0)
            .span(12)
            .height(8)
            .fill_opacity(10)
        )
        .with_panel(
            graph(
                6,
                "Log pipeline (Alloy -> Loki)",
                [
                    (
                        f"sum(rate(loki_distributor_bytes_received_total{{{loki_job}}}[$__rate_interval]))",
                        "received by Loki",
                    ),
                    (
                        f"sum by (reason) (rate(loki_discarded_samples_total{{{loki_job}}}[$__rate_interval]))",
                        "discarded by Loki: {{reason}}",
                    ),
                    (
                        f"sum by (reason) (rate(loki_write_dropped_entries_total{{{alloy_job}}}[$__rate_interval]))",
                        "dropped by Alloy: {{reason}}",
                    ),
                ],
                "short",
                span=12,
                description="Bytes/s Loki receives; lines/s Loki discards (limits) and Alloy "
                "drops (Loki unreachable or rejecting): both mean lost logs.",
            )
        )
        .with_row(db.Row("Logs").id(7))
        .with_panel(
            logs.Panel()
            .id(8)
            .title("Logs")
            .datasource(LOKI)
            .description("Live log lines of the selected namespace, app and level, newest first.")
            .with_target(_logql(stream_selector()))
            .span(24)
            .height(16)
            .show_time(True)
            .wrap_log_message(True)
            .enable_log_details(True)
            .sort_order(LogsSortOrder.DESCENDING)
        )
    )
    return to_dict(d)
