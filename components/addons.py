"""What a component hands to Monitoring: scrape jobs, rule groups, Grafana data sources and dashboards.

Each area (logging, vault, cost, canary) has a pure ``monitoring_addons(settings)`` returning one of
these; ``__main__.py`` adds them up and passes the sum to the Monitoring component's args, so no area
edits Monitoring's files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.monitoring.specs import DashboardSpec, DataSourceSpec, ProbeTarget, ScrapeTarget


@dataclass(frozen=True)
class MonitoringAddOns:
    scrape_targets: tuple[ScrapeTarget, ...] = ()
    rule_groups: tuple[dict[str, Any], ...] = ()  # Prometheus rule-file groups: {"name": ..., "rules": [...]}
    datasources: tuple[DataSourceSpec, ...] = ()
    dashboards: tuple[DashboardSpec, ...] = ()
    probes: tuple[ProbeTarget, ...] = ()  # endpoints the blackbox exporter probes

    def __add__(self, other: MonitoringAddOns) -> MonitoringAddOns:
        return MonitoringAddOns(
            self.scrape_targets + other.scrape_targets,
            self.rule_groups + other.rule_groups,
            self.datasources + other.datasources,
            self.dashboards + other.dashboards,
            self.probes + other.probes,
        )
