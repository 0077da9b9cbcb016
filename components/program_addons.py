"""Every area's add-ons for Monitoring, summed: the one list of who hands Monitoring what.

Each area (Vault, Logging, cost, progressive delivery, each service) owns its scrape jobs, rule groups,
data sources and dashboards and returns them from a pure ``monitoring_addons``; Monitoring never names
another area. Pure (no Pulumi resources): ``__main__.py`` passes the sum to ``MonitoringArgs``, and the
tests read the program's whole rule set from here without a render.
"""

from __future__ import annotations

from collections.abc import Sequence

from components.addons import MonitoringAddOns
from components.canary import monitoring_addons as canary_addons
from components.config import Settings
from components.cost import addons as cost_addons
from components.logging.addons import monitoring_addons as logging_addons
from components.monitoring.service import service_addons
from components.service.spec import ServiceSpec
from components.vault import component as vault_component


def all_addons(settings: Settings, services: Sequence[ServiceSpec]) -> MonitoringAddOns:
    addons = MonitoringAddOns()
    addons += vault_component.monitoring_addons(settings)
    addons += logging_addons(settings)
    addons += cost_addons.monitoring_addons(settings)
    addons += canary_addons(settings, services)
    # Each service's SLI rules (from its metrics contract), SLO burn-rate and threshold alerts, and probe.
    for service in services:
        addons += service_addons(
            service,
            runbook_base_url=settings.monitoring.runbook_base_url,
            evaluation_interval=settings.monitoring.evaluation_interval,
        )
    return addons
