"""The SLO dashboard: one per platform, a ``service`` variable picks the service (no literal names).

Reads only the uniform recorded names of ``components/monitoring/service.py``, so it works for every SLI
contract: error budget remaining per SLO, the objective, burn rates per window against the page and ticket
thresholds, the SLIs over time (error ratio, P95, bad-event share per SLO) and the traffic.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as db

from components.monitoring import names
from components.monitoring import service as svc
from components.monitoring.dashboards.common import graph, label_variable, new_dashboard, single_stat, to_dict

UID = names.DASHBOARD_UID_SLO
TITLE = "Service level objectives"
_SEL = 'namespace=~"$namespace", service=~"$service"'


def slo_dashboard() -> dict[str, Any]:
    budget = f"{svc.SLO_BUDGET_REMAINING}{{{_SEL}}}"
    burn = [(f"max by (slo) ({svc.slo_burn_rate(w)}{{{_SEL}}})", f"{{{{slo}}}} {w}") for w in ("1h", "6h", "1d", "3d")]
    d = (
        new_dashboard(UID, TITLE, "Error budgets, burn rates and SLIs per service (MONITORING_GUIDE.md, SLOs).")
        .with_variable(label_variable("namespace", "Namespace", svc.SLO_OBJECTIVE))
        .with_variable(label_variable("service", "Service", f'{svc.SLO_OBJECTIVE}{{namespace=~"$namespace"}}'))
        .with_row(db.Row("Error budget").id(1))
        .with_panel(
            single_stat(
                2,
                "Error budget remaining",
                f"min by (slo) ({budget})",
                "percentunit",
                [(None, "red"), (0.25, "orange"), (0.5, "green")],
                legend="{{slo}}",
                description="1 - bad events / allowed bad events over the SLO window (28 or 30 days); "
                "negative: overspent.",
            )
        )
        .with_panel(
            single_stat(
                3,
                "Objective",
                f"max by (slo) ({svc.SLO_OBJECTIVE}{{{_SEL}}})",
                "percentunit",
                [(None, "blue")],
                legend="{{slo}}",
            )
        )
        .with_panel(
            graph(
                4,
                "Error budget remaining over time",
                [(f"min by (slo) ({budget})", "{{slo}}")],
                "percentunit",
                minimum=None,
            )
        )
        .with_row(db.Row("Burn rate").id(5))
        .with_panel(
            graph(
                6,
                "Burn rate per window (1 = spending exactly the budget)",
                burn,
                "short",
                description="ErrorBudgetFastBurn pages above 14.4 (1h) / 6 (6h) for a 30-day SLO; "
                "ErrorBudgetSlowBurn opens a ticket above 3 (1d) / 1 (3d). A 28-day SLO scales them by 28/30.",
            )
        )
        .with_row(db.Row("SLIs").id(7))
        .with_panel(
            graph(
                8,
                "Error ratio",
                [(f"max by (service) ({svc.sli_error_ratio('5m')}{{{_SEL}}})", "{{service}}")],
                "percentunit",
                span=8,
            )
        )
        .with_panel(
            graph(
                9,
                "P95 latency",
                [(f"max by (service) ({svc.sli_latency_p95('5m')}{{{_SEL}}})", "{{service}}")],
                "s",
                span=8,
            )
        )
        .with_panel(
            graph(
                10,
                "Bad events per SLO (5m)",
                [(f"max by (slo) ({svc.slo_bad_ratio('5m')}{{{_SEL}}})", "{{slo}}")],
                "percentunit",
                span=8,
            )
        )
        .with_panel(
            graph(
                11,
                "Requests per second",
                [(f"sum by (service) ({svc.sli_requests('5m')}{{{_SEL}}})", "{{service}}")],
                "reqps",
            )
        )
    )
    return to_dict(d)
