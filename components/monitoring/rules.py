"""Prometheus rules as data: the SLI recording rules and every alert of the platform.

``rule_files(...)`` returns ``{file name: {"groups": [...]}}``; Monitoring mounts each file under
``/etc/prometheus/rules/``. The SLI recording rules (names in ``components.conventions``) are the one
definition of error ratio and P95 latency that the alerts, the dashboards and the canary analysis read.

Every alert carries ``labels.severity`` (critical or warning) and the annotations ``summary``,
``description`` and ``runbook_url`` (``<runbook_base_url>/MONITORING_GUIDE.md#<alert name, lowercase>``);
each anchor is a heading of docs/MONITORING_GUIDE.md (a test checks it). Thresholds and ``for``
durations are parameters: the stacks and the tests shorten them through the same arguments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components import conventions as cv
from components.monitoring import platform_alerts
from components.monitoring.alert import SEVERITIES, alert_durations, alert_rule
from components.monitoring.alert import runbook_anchor as runbook_anchor
from components.monitoring.alert import runbook_url as runbook_url
from components.monitoring.scrape import duration_seconds

DEFAULT_RUNBOOK_BASE_URL = "https://github.com/example-org/hardening/blob/main/docs"
GUIDE = "MONITORING_GUIDE.md"
ERROR_STATUS = "5.."
SLI_WINDOW = "5m"  # the "5m" in the SLI rule names

_GROUP_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")
_METRIC = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


@dataclass(frozen=True)
class _Alert:
    name: str
    severity: str
    expr: str
    for_: str
    summary: str
    description: str


# --------------------------------------------------------------------------------------------------
# Recording rules
# --------------------------------------------------------------------------------------------------
def sli_recording_rules() -> list[dict[str, str]]:
    """SLIs per rollouts hash (canary vs stable) and per (namespace, app).

    The error rate is 0 (not absent) when there are requests but no errors, so the ratio is defined;
    ``> -1`` drops the NaN of 0/0 (no traffic at all), so an idle service has no ratio rather than NaN.
    """
    by_hash = f"namespace, app, {cv.ROLLOUTS_HASH_SERIES_LABEL}"
    total = f"rate({cv.METRIC_REQUESTS}[{SLI_WINDOW}])"
    errors = f'rate({cv.METRIC_REQUESTS}{{status=~"{ERROR_STATUS}"}}[{SLI_WINDOW}])'
    buckets = f"rate({cv.METRIC_DURATION}_bucket[{SLI_WINDOW}])"
    return [
        {"record": cv.SLI_REQUEST_RATE_BY_HASH, "expr": f"sum by ({by_hash}) ({total})"},
        {
            "record": cv.SLI_ERROR_RATE_BY_HASH,
            "expr": f"sum by ({by_hash}) ({errors})\nor\n0 * sum by ({by_hash}) ({total})",
        },
        {
            "record": cv.SLI_ERROR_RATIO_BY_HASH,
            "expr": f"{cv.SLI_ERROR_RATE_BY_HASH}\n/\n{cv.SLI_REQUEST_RATE_BY_HASH} > -1",
        },
        {"record": cv.SLI_P95_BY_HASH, "expr": f"histogram_quantile(0.95, sum by ({by_hash}, le) ({buckets}))"},
        {"record": cv.SLI_REQUEST_RATE, "expr": f"sum by (namespace, app) ({cv.SLI_REQUEST_RATE_BY_HASH})"},
        {
            "record": cv.SLI_ERROR_RATIO,
            "expr": f"sum by (namespace, app) ({cv.SLI_ERROR_RATE_BY_HASH})\n/\n"
            f"sum by (namespace, app) ({cv.SLI_REQUEST_RATE_BY_HASH}) > -1",
        },
        {"record": cv.SLI_P95, "expr": f"histogram_quantile(0.95, sum by (namespace, app, le) ({buckets}))"},
    ]


# --------------------------------------------------------------------------------------------------
# Alerts
# --------------------------------------------------------------------------------------------------
DEFAULT_FOR: dict[str, str] = {
    "KubePodCrashLooping": "1m",
    "KubeContainerOOMKilled": "0s",
    "KubePersistentVolumeFillingUp": "5m",
    "TargetDown": "10m",
    "PrometheusRuleEvaluationFailures": "5m",
    "AlertmanagerFailedToSendNotifications": "5m",
}


def _num(x: float) -> str:
    """A threshold as PromQL text (no exponent, no trailing zeros)."""
    text = f"{x:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def _kubernetes_alerts(f: Mapping[str, str]) -> list[_Alert]:
    return [
        _Alert(
            "KubePodCrashLooping",
            "warning",
            # In back-off after at least 2 restarts in 5 minutes (one crash and a recovery is not a loop), or
            # more than 3 restarts in 15 minutes. max - min over the window counts restarts exactly: increase()
            # would extrapolate one restart to more than one.
            "max by (namespace, pod, container) (max_over_time("
            'kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}[5m])) >= 1\n'
            "and on (namespace, pod, container)\n"
            "max by (namespace, pod, container) (max_over_time(kube_pod_container_status_restarts_total[5m])\n"
            "  - min_over_time(kube_pod_container_status_restarts_total[5m])) >= 2\n"
            "or\n"
            "max by (namespace, pod, container) (max_over_time(kube_pod_container_status_restarts_total[15m])\n"
            "  - min_over_time(kube_pod_container_status_restarts_total[15m])) > 3",
            f["KubePodCrashLooping"],
            "Container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} is crash looping",
            "Container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} keeps "
            "restarting (CrashLoopBackOff after 2 restarts in 5 minutes, or more than 3 restarts in 15 minutes).",
        ),
        _Alert(
            "KubeContainerOOMKilled",
            "warning",
            "max by (namespace, pod, container) "
            '(kube_pod_container_status_last_terminated_reason{reason="OOMKilled"}) == 1\n'
            "and on (namespace, pod, container)\n"
            "max by (namespace, pod, container) (increase(kube_pod_container_status_restarts_total[10m])) > 0",
            f["KubeContainerOOMKilled"],
            "Container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} was OOM-killed",
            "Container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} restarted in "
            "the last 10 minutes after being killed for exceeding its memory limit.",
        ),
        _Alert(
            "KubePersistentVolumeFillingUp",
            "warning",
            "kubelet_volume_stats_available_bytes / kubelet_volume_stats_capacity_bytes < 0.15\n"
            "and\nkubelet_volume_stats_used_bytes > 0",
            f["KubePersistentVolumeFillingUp"],
            "Volume {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} is almost full",
            "Only {{ $value | humanizePercentage }} of volume {{ $labels.persistentvolumeclaim }} in "
            "{{ $labels.namespace }} is free.",
        ),
        _Alert(
            "KubePersistentVolumeFillingUp",
            "critical",
            "kubelet_volume_stats_available_bytes / kubelet_volume_stats_capacity_bytes < 0.03\n"
            "and\nkubelet_volume_stats_used_bytes > 0",
            "1m",
            "Volume {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} is full",
            "Only {{ $value | humanizePercentage }} of volume {{ $labels.persistentvolumeclaim }} in "
            "{{ $labels.namespace }} is free; writes will fail soon.",
        ),
    ]


def _platform_alerts(f: Mapping[str, str]) -> list[_Alert]:
    return [
        _Alert(
            "TargetDown",
            "warning",
            "up == 0",
            f["TargetDown"],
            "Prometheus cannot scrape {{ $labels.job }} target {{ $labels.instance }}",
            "Target {{ $labels.instance }} of job {{ $labels.job }} (pod {{ $labels.namespace }}/"
            "{{ $labels.pod }}) has been unreachable or failing.",
        ),
        _Alert(
            "PrometheusRuleEvaluationFailures",
            "critical",
            "increase(prometheus_rule_evaluation_failures_total[5m]) > 0",
            f["PrometheusRuleEvaluationFailures"],
            "Prometheus {{ $labels.pod }} fails to evaluate rules",
            "Prometheus {{ $labels.pod }} failed {{ $value | humanize }} rule evaluations of group "
            "{{ $labels.rule_group }} in the last 5 minutes: alerts and SLIs may be missing.",
        ),
        _Alert(
            "AlertmanagerFailedToSendNotifications",
            "critical",
            "sum by (namespace, pod, integration) (rate(alertmanager_notifications_failed_total[5m]))\n/\n"
            "sum by (namespace, pod, integration) (rate(alertmanager_notifications_total[5m])) > 0.01",
            f["AlertmanagerFailedToSendNotifications"],
            "Alertmanager {{ $labels.pod }} fails to send {{ $labels.integration }} notifications",
            "{{ $value | humanizePercentage }} of the {{ $labels.integration }} notifications of Alertmanager "
            "{{ $labels.pod }} failed over the last 5 minutes.",
        ),
    ]


def _alert_rule(alert: _Alert, base_url: str) -> dict[str, Any]:
    return alert_rule(
        alert.name,
        alert.expr,
        severity=alert.severity,
        for_=alert.for_,
        summary=alert.summary,
        description=alert.description,
        runbook_base_url=base_url,
    )


def validate_rule_group(group: Mapping[str, Any], where: str = "rule group") -> None:
    """Raise ValueError unless ``group`` is a rule group whose alerts carry severity and annotations."""
    if not isinstance(group, Mapping):
        raise ValueError(f"{where} = {group!r} is invalid; accepted: a mapping with 'name' and 'rules'")
    name = group.get("name")
    if not isinstance(name, str) or not _GROUP_NAME.match(name):
        raise ValueError(f"{where}: field 'name' = {name!r} is invalid; accepted: 1-80 letters, digits, '_', '.', '-'")
    rules = group.get("rules")
    if not isinstance(rules, list) or not rules:
        raise ValueError(f"{where} {name!r}: field 'rules' = {rules!r} is invalid; accepted: a non-empty list")
    for i, rule in enumerate(rules):
        at = f"{where} {name!r} rules[{i}]"
        if not isinstance(rule, Mapping) or not isinstance(rule.get("expr"), str) or not rule["expr"].strip():
            raise ValueError(f"{at}: field 'expr' is missing; accepted: a PromQL expression")
        if ("record" in rule) == ("alert" in rule):
            raise ValueError(f"{at}: exactly one of 'record' or 'alert' is accepted")
        if "record" in rule:
            if not isinstance(rule["record"], str) or not _METRIC.match(rule["record"]):
                raise ValueError(f"{at}: field 'record' = {rule['record']!r} is invalid; accepted: a metric name")
            continue
        severity = (rule.get("labels") or {}).get("severity")
        if severity not in SEVERITIES:
            raise ValueError(
                f"{at} ({rule['alert']}): labels.severity = {severity!r} is invalid; accepted: {', '.join(SEVERITIES)}"
            )
        annotations = rule.get("annotations") or {}
        for key in ("summary", "description", "runbook_url"):
            if not isinstance(annotations.get(key), str) or not annotations[key].strip():
                raise ValueError(f"{at} ({rule['alert']}): annotations.{key} is missing; accepted: a non-empty string")
        if not annotations["runbook_url"].startswith("https://"):
            raise ValueError(
                f"{at} ({rule['alert']}): annotations.runbook_url = {annotations['runbook_url']!r} "
                "is invalid; accepted: an https URL"
            )
        if "for" in rule:
            duration_seconds(rule["for"], f"{at} ({rule['alert']}): for")


def rule_files(
    *,
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    alert_for: Mapping[str, str] | None = None,
    extra_groups: Sequence[Mapping[str, Any]] = (),
    scrape_jobs: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every rule file: ``{"<name>.yaml": {"groups": [...]}}``.

    ``alert_for`` overrides ``for`` durations by alert name (``DEFAULT_FOR`` lists them);
    ``extra_groups`` are the rule groups the other areas hand in (``MonitoringAddOns.rule_groups``: Vault's,
    Loki's and Alloy's, OpenCost's, the rollouts', each service's), validated like ours; Monitoring itself
    alerts only on the cluster and on its own parts.

    ``scrape_jobs`` are the job names of the Prometheus configuration: each gets a ``ScrapeJobMissing``
    guard unless a rule group already alerts on ``absent(up{job="<job>"...`` (LokiDown, the controller's
    own). Default: the built-in jobs (``platform_alerts.DEFAULT_ABSENT_JOBS``).
    """
    if not isinstance(runbook_base_url, str) or not re.match(r"^https://\S+[^/]$", runbook_base_url):
        raise ValueError(
            f"runbook_base_url = {runbook_base_url!r} is invalid; accepted: an https URL without trailing slash"
        )
    fors = alert_durations(DEFAULT_FOR, alert_for)

    def group(name: str, alerts: list[_Alert]) -> dict[str, Any]:
        return {"name": name, "rules": [_alert_rule(a, runbook_base_url) for a in alerts]}

    files: dict[str, dict[str, Any]] = {
        "sli.yaml": {"groups": [{"name": "sli", "rules": sli_recording_rules()}]},
        "kubernetes-alerts.yaml": {"groups": [group("kubernetes", _kubernetes_alerts(fors))]},
        "platform-alerts.yaml": {"groups": [group("monitoring-platform", _platform_alerts(fors))]},
    }

    guarded = "\n".join(r["expr"] for f in files.values() for g in f["groups"] for r in g["rules"])
    for g in extra_groups:  # validated below; only read here
        rules = g.get("rules") if isinstance(g, Mapping) else None
        guarded += "\n".join(str(r.get("expr")) for r in rules or [] if isinstance(r, Mapping))
    jobs = platform_alerts.DEFAULT_ABSENT_JOBS if scrape_jobs is None else tuple(scrape_jobs)
    absent_jobs = [j for j in dict.fromkeys(jobs) if f'absent(up{{job="{j}"' not in guarded]
    files.update(platform_alerts.rule_files(runbook_base_url, absent_jobs))
    names_seen = {g["name"] for f in files.values() for g in f["groups"]}
    for i, extra in enumerate(extra_groups):
        validate_rule_group(extra, f"extra_groups[{i}]")
        if extra["name"] in names_seen:
            raise ValueError(f"extra_groups[{i}]: group name {extra['name']!r} is already used; accepted: a new name")
        names_seen.add(extra["name"])
        files[f"extra-{extra['name']}.yaml"] = {"groups": [dict(extra)]}
    for file_name, content in files.items():
        for g in content["groups"]:
            validate_rule_group(g, f"{file_name} group")
    return files


def all_rules(files: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every rule of every group of ``files`` (flattened)."""
    return [r for f in files.values() for g in f["groups"] for r in g["rules"]]


def alert_names(files: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Distinct alert names in ``files``, in order."""
    out: list[str] = []
    for rule in all_rules(files):
        if "alert" in rule and rule["alert"] not in out:
            out.append(rule["alert"])
    return out
