"""What Logging hands to Monitoring: scrape jobs, the Loki data source, the logs dashboard, alert rules.

``monitoring_addons(settings)`` is pure (no Pulumi): ``__main__.py`` adds it to the other areas' add-ons
and passes the sum to the Monitoring component.
"""

from __future__ import annotations

from components import conventions as cv
from components.addons import MonitoringAddOns
from components.config import Settings
from components.logging import names
from components.logging.dashboard import TITLE, logs_dashboard
from components.logging.rules import logging_rule_group, loki_rule_group
from components.monitoring import names as mnames
from components.monitoring.specs import DashboardSpec, DataSourceSpec, ScrapeTarget

DATASOURCE_NAME = "Loki"
# Lines a query may return (Grafana's default is 1000); Loki's own limit is max_entries_limit_per_query.
MAX_LINES = 1000


def scrape_targets(namespace: str = names.NAMESPACE) -> tuple[ScrapeTarget, ScrapeTarget]:
    """Loki (job ``loki``, the job the Monitoring rules' Loki alerts select) and Alloy (job ``alloy``)."""
    return (
        ScrapeTarget(names.LOKI_JOB, namespace, {cv.LABEL_NAME: names.LOKI}, names.LOKI_HTTP_PORT_NAME),
        ScrapeTarget(names.ALLOY_JOB, namespace, {cv.LABEL_NAME: names.ALLOY}, names.ALLOY_HTTP_PORT_NAME),
    )


def loki_datasource(namespace: str = names.NAMESPACE) -> DataSourceSpec:
    return DataSourceSpec(
        name=DATASOURCE_NAME,
        type="loki",
        uid=mnames.LOKI_DATASOURCE_UID,
        url=names.loki_base_url(namespace),
        json_data={"maxLines": MAX_LINES, "timeout": 60},
    )


def monitoring_addons(settings: Settings) -> MonitoringAddOns:
    dash = logs_dashboard()
    return MonitoringAddOns(
        scrape_targets=scrape_targets(),
        rule_groups=(
            loki_rule_group(runbook_base_url=settings.monitoring.runbook_base_url),
            logging_rule_group(runbook_base_url=settings.monitoring.runbook_base_url),
        ),
        datasources=(loki_datasource(),),
        dashboards=(DashboardSpec(uid=dash["uid"], title=TITLE, json=dash),),
    )
