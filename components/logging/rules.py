"""Logging's alert groups, handed to Monitoring with its scrape jobs (``components.logging.addons``).

The ``loki`` group alerts on Loki being down (``LokiDown``), discarding lines (``LokiDiscardingSamples``)
and failing requests (``LokiRequestErrors``); their runbooks are in docs/MONITORING_GUIDE.md. The
``logging`` group adds the failures that lose logs silently or keep them forever:

- ``LokiRetentionNotApplied``: the compactor has not applied retention for hours (or never since
  start-up): logs are not being deleted (retention disabled, no delete-request store, compactor failing).
- ``LokiChunkFlushFailures`` / ``LokiWalDiskFull``: Loki cannot persist what it ingests.
- ``AlloyLogEntriesDropped`` / ``AlloyLokiWriteErrors``: the collector gives up on, or is refused by, Loki.
- ``AlloyCollectorUnavailable``: a node has no running collector, so its pods' logs are not collected.

Every alert is built by ``components.monitoring.alert.alert_rule``: ``severity``, ``summary``,
``description`` and a ``runbook_url`` whose heading exists in the guide it points into
(``<base>/LOGGING_GUIDE.md#<alert name, lowercase>`` for the ``logging`` group).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.logging import names
from components.monitoring import alert
from components.monitoring.rules import validate_rule_group

GROUP_NAME = "logging"
LOKI_GROUP_NAME = "loki"
GUIDE = "LOGGING_GUIDE.md"
# Retention runs every compaction interval (10m) plus jitter; 3h without a successful run is broken.
RETENTION_STALE_SECONDS = 3 * 3600
WRITE_ERROR_RATIO = 0.05


@dataclass(frozen=True)
class _Alert:
    """One alert: everything about it in one entry (a new alert is one more entry and its runbook section)."""

    name: str
    severity: str
    for_: str  # the default ``for``; ``alert_for`` overrides it by name
    expr: str
    summary: str
    description: str


def _loki_alerts(job: str) -> list[_Alert]:
    return [
        _Alert(
            "LokiDown",
            "critical",
            "5m",
            f'absent(up{{job="{job}"}} == 1)',
            "Loki is down",
            f"No Loki target of job {job} is up: logs are not ingested nor queryable.",
        ),
        _Alert(
            "LokiDiscardingSamples",
            "warning",
            "10m",
            f'sum by (namespace, reason) (rate(loki_discarded_samples_total{{job="{job}"}}[5m])) > 0',
            "Loki discards log lines ({{ $labels.reason }})",
            "Loki in {{ $labels.namespace }} discards {{ $value | humanize }} log lines per second "
            "(reason: {{ $labels.reason }}): those logs are lost.",
        ),
        _Alert(
            "LokiRequestErrors",
            "critical",
            "10m",
            f'sum by (namespace, route) (rate(loki_request_duration_seconds_count{{job="{job}", '
            f'status_code=~"5.."}}[5m]))\n/\n'
            f'sum by (namespace, route) (rate(loki_request_duration_seconds_count{{job="{job}"}}[5m])) > 0.05',
            "Loki fails requests on {{ $labels.route }}",
            "{{ $value | humanizePercentage }} of the Loki requests on route {{ $labels.route }} in "
            "{{ $labels.namespace }} failed with 5xx over the last 5 minutes.",
        ),
    ]


def _alerts(loki_job: str, alloy_job: str, namespace: str) -> list[_Alert]:
    loki = f'job="{loki_job}"'
    alloy = f'job="{alloy_job}"'
    stale = RETENTION_STALE_SECONDS
    return [
        _Alert(
            "LokiRetentionNotApplied",
            "warning",
            "30m",
            f"(time() - max by (namespace, pod) "
            f"(loki_compactor_apply_retention_last_successful_run_timestamp_seconds{{{loki}}})) > {stale}\n"
            f"and on (namespace, pod)\n"
            f"(time() - max by (namespace, pod) (process_start_time_seconds{{{loki}}})) > {stale}",
            "Loki {{ $labels.pod }} has not applied retention for 3 hours",
            "The compactor of {{ $labels.namespace }}/{{ $labels.pod }} has not completed a retention run "
            "in the last 3 hours (or ever since it started): logs older than the retention period are "
            "not being deleted and the volume keeps growing.",
        ),
        _Alert(
            "LokiChunkFlushFailures",
            "critical",
            "10m",
            f"sum by (namespace, pod) (increase(loki_ingester_chunks_flush_failures_total{{{loki}}}[10m])) > 0",
            "Loki {{ $labels.pod }} fails to write chunks to storage",
            "{{ $labels.namespace }}/{{ $labels.pod }} failed {{ $value | humanize }} chunk flushes in the "
            "last 10 minutes: ingested logs stay in memory and the WAL and are lost if it cannot recover.",
        ),
        _Alert(
            "LokiWalDiskFull",
            "critical",
            "0s",
            f"sum by (namespace, pod) (increase(loki_ingester_wal_disk_full_failures_total{{{loki}}}[5m])) > 0",
            "Loki {{ $labels.pod }} WAL disk is full",
            "{{ $labels.namespace }}/{{ $labels.pod }} could not write its write-ahead log because the volume "
            "is full: it keeps ingesting without a WAL, so a restart now loses logs.",
        ),
        _Alert(
            "AlloyLogEntriesDropped",
            "warning",
            "10m",
            f"sum by (namespace, pod, reason) (rate(loki_write_dropped_entries_total{{{alloy}}}[5m])) > 0",
            "Alloy {{ $labels.pod }} drops log lines ({{ $labels.reason }})",
            "Alloy {{ $labels.namespace }}/{{ $labels.pod }} drops {{ $value | humanize }} log lines per second "
            "that it could not deliver to Loki (reason: {{ $labels.reason }}): those logs are lost.",
        ),
        _Alert(
            "AlloyLokiWriteErrors",
            "warning",
            "15m",
            f"sum by (namespace, pod) (rate(loki_write_request_duration_seconds_count{{{alloy}, "
            f'status_code!~"2.."}}[5m]))\n/\n'
            f"sum by (namespace, pod) (rate(loki_write_request_duration_seconds_count{{{alloy}}}[5m]))"
            f" > {WRITE_ERROR_RATIO}",
            "Alloy {{ $labels.pod }} push requests to Loki fail",
            "{{ $value | humanizePercentage }} of the push requests of Alloy {{ $labels.namespace }}/"
            "{{ $labels.pod }} to Loki failed over the last 5 minutes (rate limited, Loki unready or "
            "unreachable); Alloy retries, then drops.",
        ),
        _Alert(
            "AlloyCollectorUnavailable",
            "warning",
            "15m",
            f'max by (namespace, daemonset) (kube_daemonset_status_number_unavailable{{namespace="{namespace}", '
            f'daemonset="{names.ALLOY}"}}) > 0',
            "{{ $value }} node(s) have no running log collector",
            "DaemonSet {{ $labels.namespace }}/{{ $labels.daemonset }} has {{ $value }} unavailable pod(s): "
            "the logs of the pods on those nodes are not collected.",
        ),
    ]


# The default ``for`` of every alert, by name (what ``alert_for`` may override).
LOKI_FOR: dict[str, str] = {a.name: a.for_ for a in _loki_alerts(names.LOKI_JOB)}
DEFAULT_FOR: dict[str, str] = {a.name: a.for_ for a in _alerts(names.LOKI_JOB, names.ALLOY_JOB, names.NAMESPACE)}


def _group(
    name: str,
    alerts: list[_Alert],
    defaults: Mapping[str, str],
    alert_for: Mapping[str, str] | None,
    runbook_base_url: str,
    guide: str,
) -> dict[str, Any]:
    fors = alert.alert_durations(defaults, alert_for)
    rules = [
        alert.alert_rule(
            a.name,
            a.expr,
            severity=a.severity,
            for_=fors[a.name],
            summary=a.summary,
            description=a.description,
            runbook_base_url=runbook_base_url,
            guide=guide,
        )
        for a in alerts
    ]
    group = {"name": name, "rules": rules}
    validate_rule_group(group, f"{name} rule group")
    return group


def logging_rule_group(
    *,
    runbook_base_url: str,
    alert_for: Mapping[str, str] | None = None,
    loki_job: str = names.LOKI_JOB,
    alloy_job: str = names.ALLOY_JOB,
    namespace: str = names.NAMESPACE,
) -> dict[str, Any]:
    """The ``logging`` rule group (Prometheus rule-file format), validated like Monitoring's own."""
    alerts = _alerts(loki_job, alloy_job, namespace)
    return _group(GROUP_NAME, alerts, DEFAULT_FOR, alert_for, runbook_base_url, GUIDE)


def loki_rule_group(
    *, runbook_base_url: str, alert_for: Mapping[str, str] | None = None, loki_job: str = names.LOKI_JOB
) -> dict[str, Any]:
    """The ``loki`` rule group: Loki down, discarding lines, failing requests (runbooks: MONITORING_GUIDE.md)."""
    return _group(LOKI_GROUP_NAME, _loki_alerts(loki_job), LOKI_FOR, alert_for, runbook_base_url, alert.GUIDE)


def alert_names() -> list[str]:
    return list(DEFAULT_FOR)
