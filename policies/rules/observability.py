"""Observability rules: Prometheus and Loki retention, every app workload scraped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from components import yamltext
from components.conventions import ANNOTATION_SCRAPE, LABEL_COMPONENT, LABEL_NAME

from .common import (
    CONFIGMAP,
    STATEFULSET,
    WORKLOAD_TYPES,
    Resource,
    Rule,
    as_list,
    as_map,
    containers,
    duration_seconds,
    labels,
    number,
    pod_annotations,
    pod_labels,
    pod_spec,
    ref,
)

_DAY = 86400.0
RETENTION_FLAG = "--storage.tsdb.retention.time"


def _min_days(config: Mapping[str, Any], default: float) -> float:
    val = number(config.get("minDays"))
    return default if val is None else val


def prometheus_retention(res: Resource, config: Mapping[str, Any]) -> list[str]:
    """The Prometheus StatefulSet keeps at least ``minDays`` of metrics."""
    if labels(res.props).get(LABEL_NAME) != "prometheus":
        return []
    spec = pod_spec(res) or {}
    minimum = _min_days(config, 15)
    found: list[str] = []
    for _fld, c in containers(spec, include_init=False):
        for arg in as_list(c.get("args")) + as_list(c.get("command")):
            if isinstance(arg, str) and arg.startswith(RETENTION_FLAG + "="):
                found.append(arg.split("=", 1)[1])
    if not found:
        return [f"{ref(res)}: no {RETENTION_FLAG}=<N>d argument (want at least {minimum:g}d)"]
    msgs = []
    for value in found:
        secs = duration_seconds(value)
        if secs is None:
            msgs.append(f"{ref(res)}: {RETENTION_FLAG}={value!r} is not a Prometheus duration")
        elif secs < minimum * _DAY:
            msgs.append(
                f"{ref(res)}: {RETENTION_FLAG}={value} keeps {secs / _DAY:g} days, below the minimum of {minimum:g}"
            )
    return msgs


POLICY_OBSERVABILITY_PROMETHEUS_RETENTION = Rule(
    name="observability-prometheus-retention",
    area="observability",
    severity="medium",
    kind="resource",
    default_level="advisory",
    check=prometheus_retention,
    applies_to=frozenset({STATEFULSET}),
    config={
        "minDays": {
            "type": "number",
            "minimum": 0,
            "default": 15,
            "description": "Minimum --storage.tsdb.retention.time in days.",
        }
    },
    description="Prometheus keeps metrics at least minDays (15 in production).",
    remediation="Set hardening:prometheusRetention (e.g. 15d) in Pulumi.<stack>.yaml; the Monitoring "
    "component passes it as --storage.tsdb.retention.time.",
)


def loki_retention(res: Resource, config: Mapping[str, Any]) -> list[str]:
    """Loki's config enables compactor retention and keeps at least ``minDays`` of logs."""
    if labels(res.props).get(LABEL_NAME) != "loki":
        return []
    raw = as_map(res.props.get("data")).get("loki.yaml")
    if raw is None:
        return []
    if not isinstance(raw, str):
        return []  # unknown during preview
    minimum = _min_days(config, 30)
    try:
        doc = yamltext.load(raw)
    except yaml.YAMLError as exc:
        return [f"{ref(res)}: loki.yaml is not valid YAML ({str(exc).splitlines()[0]})"]
    doc = as_map(doc)
    msgs = []
    period = as_map(doc.get("limits_config")).get("retention_period")
    if period is None:
        msgs.append(
            f"{ref(res)}: loki.yaml sets no limits_config.retention_period "
            f"(Loki keeps logs forever; want at least {minimum:g}d)"
        )
    else:
        secs = duration_seconds(str(period))
        if secs is None:
            msgs.append(f"{ref(res)}: limits_config.retention_period {period!r} is not a duration")
        elif secs < minimum * _DAY:
            msgs.append(
                f"{ref(res)}: limits_config.retention_period {period} keeps {secs / _DAY:g} days, "
                f"below the minimum of {minimum:g}"
            )
    if as_map(doc.get("compactor")).get("retention_enabled") is not True:
        msgs.append(f"{ref(res)}: compactor.retention_enabled is not true, so retention_period never deletes")
    return msgs


POLICY_OBSERVABILITY_LOKI_RETENTION = Rule(
    name="observability-loki-retention",
    area="observability",
    severity="medium",
    kind="resource",
    default_level="advisory",
    check=loki_retention,
    applies_to=frozenset({CONFIGMAP}),
    config={
        "minDays": {
            "type": "number",
            "minimum": 0,
            "default": 30,
            "description": "Minimum limits_config.retention_period in days.",
        }
    },
    description="Loki deletes logs by retention (compactor retention_enabled) and keeps at least minDays "
    "(30 in production).",
    remediation="Set hardening:lokiRetention (e.g. 30d) in Pulumi.<stack>.yaml and keep "
    "compactor.retention_enabled: true in the Loki config builder.",
)


def app_scraped(res: Resource, config: Mapping[str, Any]) -> list[str]:
    """Every workload labelled ``app.kubernetes.io/component: app`` opts its pods into scraping."""
    component = config.get("component", "app")
    if labels(res.props).get(LABEL_COMPONENT) != component and pod_labels(res).get(LABEL_COMPONENT) != component:
        return []
    value = pod_annotations(res).get(ANNOTATION_SCRAPE)
    if value == "true" or value is True:
        return []
    shown = "missing" if value is None else repr(value)
    return [f'{ref(res)}: pod template annotation {ANNOTATION_SCRAPE} is {shown} (want "true")']


POLICY_OBSERVABILITY_APP_SCRAPED = Rule(
    name="observability-app-scraped",
    area="observability",
    severity="medium",
    kind="resource",
    default_level="mandatory",
    check=app_scraped,
    applies_to=WORKLOAD_TYPES,
    config={
        "component": {
            "type": "string",
            "default": "app",
            "description": "app.kubernetes.io/component value of app workloads.",
        },
    },
    description="Every app workload's pods are scraped by Prometheus (annotation prometheus.io/scrape).",
    remediation='Add the pod template annotations prometheus.io/scrape: "true", prometheus.io/port '
    "and prometheus.io/path (names in components/conventions.py).",
)
