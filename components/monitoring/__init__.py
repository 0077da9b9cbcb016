"""Monitoring: Prometheus, Alertmanager, kube-state-metrics, node-exporter and Grafana.

This package is import-light on purpose: the builders (``scrape``, ``rules``, ``alertmanager``,
``grafana``, ``dashboards``) return plain data and never import Pulumi, so tests, tools and other
components can use them cheaply. Only ``component.py`` (the ``Monitoring`` ComponentResource)
imports Pulumi; import it explicitly: ``from components.monitoring.component import Monitoring``.

Other components hand their additions to Monitoring as plain data (see ``specs``):
``ScrapeTarget`` (a scrape job), rule groups (dicts in Prometheus' rule-file format),
``DataSourceSpec`` (a Grafana data source) and ``DashboardSpec`` (a dashboard JSON model).
"""

from __future__ import annotations

from components.monitoring.specs import DashboardSpec, DataSourceSpec, ScrapeTarget

__all__ = ["DashboardSpec", "DataSourceSpec", "ScrapeTarget"]
