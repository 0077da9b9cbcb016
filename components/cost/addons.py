"""What the cost area hands to Monitoring: the OpenCost scrape job, cost rules and the cost dashboard.

- Scrape job ``opencost`` (``honor_labels``: OpenCost's series describe other pods and namespaces, so their
  ``namespace``/``pod`` labels must win over the target's).
- Rule group ``cost``: ``namespace:cost_hourly:sum`` (the hourly cost of each namespace: CPU and memory
  allocation times the node prices, volume claims times the volume price, load balancers), plus two
  alerts: OpenCost down, and the monthly run rate above the stack's budget.
- Dashboard "Cost": spend per hour/day/month, a 30-day trend of the daily spend, cost by namespace, by team
  and by cost center (``kube_namespace_labels`` from kube-state-metrics carries the namespaces' ``team`` and
  ``cost-center`` labels), and the cost per thousand requests of the app (its namespace's cost divided by
  the Monitoring SLI request rate).
"""

from __future__ import annotations

from typing import Any, Final

from grafana_foundation_sdk.builders import dashboard as db

from components import conventions as cv
from components.addons import MonitoringAddOns
from components.config import Settings
from components.cost import opencost as oc
from components.monitoring import names
from components.monitoring.alert import alert_rule
from components.monitoring.dashboards.common import (
    graph,
    instant_table,
    label_variable,
    new_dashboard,
    single_stat,
    to_dict,
)
from components.monitoring.specs import DashboardSpec, ScrapeTarget

JOB: Final = oc.NAME
KSM_JOB: Final = names.KUBE_STATE_METRICS
RECORD_NAMESPACE_HOURLY: Final = "namespace:cost_hourly:sum"
DASHBOARD_UID: Final = "hardening-cost"
DASHBOARD_TITLE: Final = "Cost"
GIB_BYTES: Final = 1073741824
RULE_GROUP: Final = "cost"
ALERT_OPENCOST_DOWN: Final = "OpenCostDown"
ALERT_OVER_BUDGET: Final = "CostRunRateOverBudget"
GUIDE: Final = "COST_GUIDE.md"


def scrape_target() -> ScrapeTarget:
    return ScrapeTarget(JOB, cv.NS_COST, {cv.LABEL_NAME: oc.NAME}, oc.API_PORT_NAME, honor_labels=True)


def namespace_hourly_cost_expr(job: str = JOB) -> str:
    """PromQL: hourly cost by namespace from OpenCost's metrics (label ``part``: cpu/memory/storage/lb).

    The four parts carry distinct ``part`` labels so that ``or`` is a union, then ``sum by`` adds them (a
    plain ``+`` would drop namespaces that lack one of the parts).
    """
    sel = f'job="{job}"'
    cpu = (
        f"sum by (namespace) (sum by (namespace, node) (container_cpu_allocation{{{sel}}}) "
        f"* on (node) group_left () max by (node) (node_cpu_hourly_cost{{{sel}}}))"
    )
    memory = (
        f"sum by (namespace) (sum by (namespace, node) (container_memory_allocation_bytes{{{sel}}}) "
        f"/ {GIB_BYTES} * on (node) group_left () max by (node) (node_ram_hourly_cost{{{sel}}}))"
    )
    storage = (
        f"sum by (namespace) (max by (namespace, persistentvolume) (pod_pvc_allocation{{{sel}}}) "
        f"/ {GIB_BYTES} * on (persistentvolume) group_left () "
        f"max by (persistentvolume) (pv_hourly_cost{{{sel}}}))"
    )
    lb = f"sum by (namespace) (kubecost_load_balancer_cost{{{sel}}})"
    parts = " or ".join(
        f'label_replace({expr}, "part", "{name}", "", "")'
        for name, expr in (("cpu", cpu), ("memory", memory), ("storage", storage), ("lb", lb))
    )
    return f"sum by (namespace, part) ({parts})"


def rule_group(settings: Settings) -> dict[str, Any]:
    base = settings.monitoring.runbook_base_url
    budget = settings.cost.monthly_budget
    return {
        "name": RULE_GROUP,
        "rules": [
            {"record": RECORD_NAMESPACE_HOURLY, "expr": f"sum by (namespace) ({namespace_hourly_cost_expr()})"},
            alert_rule(
                ALERT_OPENCOST_DOWN,
                f'up{{job="{JOB}"}} == 0 or absent(up{{job="{JOB}"}})',
                for_="15m",
                severity="warning",
                labels={"area": "cost"},
                summary="OpenCost is not being scraped",
                description="No cost metrics for 15 minutes: the cost dashboard and the budget alert are "
                "blind. Check the opencost pod in the opencost namespace.",
                runbook_base_url=base,
                guide=GUIDE,
            ),
            alert_rule(
                ALERT_OVER_BUDGET,
                f"sum({RECORD_NAMESPACE_HOURLY}) * {oc.HOURS_PER_MONTH:g} > {budget:g}",
                for_="6h",
                severity="warning",
                labels={"area": "cost"},
                summary="The cluster's monthly cost run rate is above the budget",
                description=f'At the current rate the month costs {{{{ $value | printf "%.2f" }}}} '
                f"{oc.CURRENCY}, above the budget of {budget:g} (costMonthlyBudget).",
                runbook_base_url=base,
                guide=GUIDE,
            ),
        ],
    }


def _by_label(label: str) -> str:
    """Hourly cost summed by a namespace label (``team``/``cost-center``) from kube-state-metrics."""
    ksm_label = "label_" + label.replace("-", "_")
    out = label.replace("-", "_")
    return (
        f"sum by ({out}) (label_replace({RECORD_NAMESPACE_HOURLY} * on (namespace) group_left ({ksm_label}) "
        f'max by (namespace, {ksm_label}) (kube_namespace_labels{{job="{KSM_JOB}"}}), '
        f'"{out}", "$1", "{ksm_label}", "(.*)"))'
    )


def cost_per_thousand_requests_expr(namespace: str, app: str) -> str:
    """Hourly cost of the app's namespace / thousands of requests per hour (Monitoring's SLI rate)."""
    requests = f'sum({cv.SLI_REQUEST_RATE}{{namespace="{namespace}", app="{app}"}})'
    return f'sum({RECORD_NAMESPACE_HOURLY}{{namespace="{namespace}"}}) / ({requests} * 3600 / 1000 > 0)'


def cost_dashboard(settings: Settings) -> dict[str, Any]:
    # No literal namespace or service: the dashboard picks them with its variables (one service at a time).
    ns, app = "$namespace", "$service"
    total = f"sum({RECORD_NAMESPACE_HOURLY})"
    money = [(None, "green")]
    d = (
        new_dashboard(
            DASHBOARD_UID,
            DASHBOARD_TITLE,
            "What the cluster costs, from OpenCost with the stack's own unit prices (COST_GUIDE.md).",
        )
        .with_variable(label_variable("namespace", "Namespace", cv.SLI_REQUEST_RATE, multi=False, include_all=False))
        .with_variable(
            label_variable(
                "service",
                "Service",
                f'{cv.SLI_REQUEST_RATE}{{namespace="$namespace"}}',
                multi=False,
                include_all=False,
                source="app",
            )
        )
        .with_row(db.Row("Spend").id(1))
        .with_panel(single_stat(2, "Cost per hour (now)", total, "currencyUSD", money, span=6))
        .with_panel(
            single_stat(
                3,
                "Daily spend (last 24 h)",
                f"avg_over_time({total}[1d:5m]) * 24",
                "currencyUSD",
                money,
                span=6,
                description="Average hourly cost over the last day, times 24.",
            )
        )
        .with_panel(
            single_stat(
                4,
                "Monthly run rate",
                f"{total} * {oc.HOURS_PER_MONTH:g}",
                "currencyUSD",
                [(None, "green"), (settings.cost.monthly_budget, "red")],
                span=6,
                description=f"Red above the budget ({settings.cost.monthly_budget:g} "
                f"{oc.CURRENCY}/month, costMonthlyBudget).",
            )
        )
        .with_panel(
            single_stat(
                5,
                "Cost per 1000 requests (app)",
                cost_per_thousand_requests_expr(ns, app),
                "currencyUSD",
                money,
                span=6,
                description="Hourly cost of the namespace picked above divided by the thousands of requests "
                "the picked service served in that hour.",
            )
        )
        .with_panel(
            graph(
                6,
                "Daily spend, 30-day trend",
                [(f"sum(avg_over_time({RECORD_NAMESPACE_HOURLY}[1d])) * 24", "daily spend")],
                "currencyUSD",
                description="Rolling one-day average of the spend.",
            )
            .time_from("30d")
            .interval("1h")
        )
        .with_row(db.Row("Allocation").id(7))
        .with_panel(
            graph(
                8,
                "Cost per day by namespace",
                [(f"{RECORD_NAMESPACE_HOURLY} * 24", "{{namespace}}")],
                "currencyUSD",
                span=12,
            )
        )
        .with_panel(
            graph(9, "Cost per day by team", [(f"{_by_label(cv.LABEL_TEAM)} * 24", "{{team}}")], "currencyUSD", span=12)
        )
        .with_panel(
            graph(
                10,
                "Cost per day by cost center",
                [(f"{_by_label(cv.LABEL_COST_CENTER)} * 24", "{{cost_center}}")],
                "currencyUSD",
                span=12,
            )
        )
        .with_panel(
            graph(
                11,
                "Cost per day by resource",
                [(f"sum by (part) ({namespace_hourly_cost_expr()}) * 24", "{{part}}")],
                "currencyUSD",
                span=12,
            )
        )
        .with_panel(
            graph(
                12,
                "Cost per 1000 requests of the service",
                [(cost_per_thousand_requests_expr(ns, app), "{{namespace}}")],
                "currencyUSD",
                span=12,
            )
        )
        .with_panel(
            instant_table(
                13,
                "Monthly run rate by namespace",
                f"sort_desc({RECORD_NAMESPACE_HOURLY} * {oc.HOURS_PER_MONTH:g})",
                span=12,
            )
        )
    )
    return to_dict(d)


def monitoring_addons(settings: Settings) -> MonitoringAddOns:
    model = cost_dashboard(settings)
    return MonitoringAddOns(
        scrape_targets=(scrape_target(),),
        rule_groups=(rule_group(settings),),
        dashboards=(DashboardSpec(uid=DASHBOARD_UID, title=DASHBOARD_TITLE, json=model),),
    )
