"""Every platform alert of ``platform_alerts.py`` through ``promtool test rules``, on both sides: one input
that fires it (after its ``for``) and one that must not, with the rendered rules and durations.

The check reads the ``ALERTS`` series promtool records (``alertstate="firing"``, narrowed by a selector), so a
case states which alert fires for what labels without restating every annotation; the annotations are
checked once per alert below (rendered, non-empty, runbook anchor present) by the alert helper itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.monitoring import platform_alerts
from components.monitoring.rules import rule_files
from tests.monitoring.promsupport import PROMTOOL, run_tool, write_rules

PROM = 'job="prometheus", namespace="monitoring", pod="prometheus-0"'
AM = 'job="alertmanager", namespace="monitoring"'
NODE = 'job="node-exporter", instance="node-a:9100"'
FS = f'{NODE}, mountpoint="/", fstype="ext4", device="sda1"'
KSM = 'job="kube-state-metrics", namespace="web"'
PVC = 'job="kubelet", namespace="monitoring", persistentvolumeclaim="data-prometheus-0"'
CAD = 'job="cadvisor", namespace="web", pod="orders-api-1", container="app"'
PROBE = 'job="blackbox", namespace="web", service="orders-api", instance="http://orders-api.web.svc:80/readyz"'
DAY = 86400


def s(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f"{name}{{{labels}}}", "values": values}


# (alert, what, input series (1 sample a minute), eval time, fires?, extra ALERTS selector)
Case = tuple[str, str, list[dict[str, str]], str, bool, str]
CASES: list[Case] = [
    ("Watchdog", "always, with no input at all", [], "1m", True, ""),
    (
        "PrometheusBadConfig",
        "reloads fine",
        [s("prometheus_config_last_reload_successful", PROM, "1x20")],
        "15m",
        False,
        "",
    ),
    (
        "PrometheusBadConfig",
        "last reload failed",
        [s("prometheus_config_last_reload_successful", PROM, "0x20")],
        "15m",
        True,
        "",
    ),
    (
        "PrometheusMissingRuleEvaluations",
        "none missed",
        [s("prometheus_rule_group_iterations_missed_total", f'{PROM}, rule_group="g"', "0x30")],
        "20m",
        False,
        "",
    ),
    (
        "PrometheusMissingRuleEvaluations",
        "one missed a minute",
        [s("prometheus_rule_group_iterations_missed_total", f'{PROM}, rule_group="g"', "0+1x30")],
        "20m",
        True,
        "",
    ),
    (
        "PrometheusNotificationQueueRunningFull",
        "queue steady",
        [
            s("prometheus_notifications_queue_length", PROM, "10x30"),
            s("prometheus_notifications_queue_capacity", PROM, "10000x30"),
        ],
        "20m",
        False,
        "",
    ),
    (
        "PrometheusNotificationQueueRunningFull",
        "queue grows 500 a minute",
        [
            s("prometheus_notifications_queue_length", PROM, "0+500x30"),
            s("prometheus_notifications_queue_capacity", PROM, "10000x30"),
        ],
        "20m",
        True,
        "",
    ),
    (
        "PrometheusErrorSendingAlerts",
        "no errors",
        [
            s("prometheus_notifications_errors_total", f'{PROM}, alertmanager="a"', "0x20"),
            s("prometheus_notifications_sent_total", f'{PROM}, alertmanager="a"', "0+100x20"),
        ],
        "15m",
        False,
        "",
    ),
    (
        "PrometheusErrorSendingAlerts",
        "10 % errors",
        [
            s("prometheus_notifications_errors_total", f'{PROM}, alertmanager="a"', "0+10x20"),
            s("prometheus_notifications_sent_total", f'{PROM}, alertmanager="a"', "0+100x20"),
        ],
        "15m",
        True,
        "",
    ),
    (
        "PrometheusNotConnectedToAlertmanagers",
        "one discovered",
        [s("prometheus_notifications_alertmanagers_discovered", PROM, "1x20")],
        "15m",
        False,
        "",
    ),
    (
        "PrometheusNotConnectedToAlertmanagers",
        "none discovered",
        [s("prometheus_notifications_alertmanagers_discovered", PROM, "0x20")],
        "15m",
        True,
        "",
    ),
    (
        "PrometheusTSDBFailures",
        "no failures",
        [s("prometheus_tsdb_compactions_failed_total", PROM, "0x20")],
        "10m",
        False,
        "",
    ),
    (
        "PrometheusTSDBFailures",
        "a compaction failed",
        [s("prometheus_tsdb_compactions_failed_total", PROM, "0 0 0 1x17")],
        "10m",
        True,
        "",
    ),
    (
        "PrometheusTargetSampleLimitHit",
        "no scrape over its limit",
        [s("prometheus_target_scrapes_exceeded_sample_limit_total", PROM, "0x30")],
        "20m",
        False,
        "",
    ),
    (
        "PrometheusTargetSampleLimitHit",
        "a scrape over its limit every minute",
        [s("prometheus_target_scrapes_exceeded_sample_limit_total", PROM, "0+1x30")],
        "20m",
        True,
        "",
    ),
    (
        "AlertmanagerFailedReload",
        "reloads fine",
        [s("alertmanager_config_last_reload_successful", f'{AM}, pod="alertmanager-0"', "1x20")],
        "15m",
        False,
        "",
    ),
    (
        "AlertmanagerFailedReload",
        "last reload failed",
        [s("alertmanager_config_last_reload_successful", f'{AM}, pod="alertmanager-0"', "0x20")],
        "15m",
        True,
        "",
    ),
    (
        "AlertmanagerMembersInconsistent",
        "3 pods, each sees 3",
        [s("alertmanager_cluster_members", f'{AM}, pod="alertmanager-{i}"', "3x30") for i in range(3)],
        "20m",
        False,
        "",
    ),
    (
        "AlertmanagerMembersInconsistent",
        "one pod sees only itself (UDP gossip blocked)",
        [
            s("alertmanager_cluster_members", f'{AM}, pod="alertmanager-0"', "3x30"),
            s("alertmanager_cluster_members", f'{AM}, pod="alertmanager-1"', "3x30"),
            s("alertmanager_cluster_members", f'{AM}, pod="alertmanager-2"', "1x30"),
        ],
        "20m",
        True,
        'pod="alertmanager-2"',
    ),
    (
        "NodeFilesystemFillingUp",
        "60 % free and steady",
        [
            s("node_filesystem_avail_bytes", FS, "600x480"),
            s("node_filesystem_size_bytes", FS, "1000x480"),
            s("node_filesystem_readonly", FS, "0x480"),
        ],
        "7h",
        False,
        "",
    ),
    (
        "NodeFilesystemFillingUp",
        "losing 1/1000 a minute: full within a day",
        [
            s("node_filesystem_avail_bytes", FS, "500-1x480"),
            s("node_filesystem_size_bytes", FS, "1000x480"),
            s("node_filesystem_readonly", FS, "0x480"),
        ],
        "7h",
        True,
        "",
    ),
    (
        "NodeMemoryPressure",
        "half available",
        [s("node_memory_MemAvailable_bytes", NODE, "500x20"), s("node_memory_MemTotal_bytes", NODE, "1000x20")],
        "10m",
        False,
        "",
    ),
    (
        "NodeMemoryPressure",
        "3 % available",
        [s("node_memory_MemAvailable_bytes", NODE, "30x20"), s("node_memory_MemTotal_bytes", NODE, "1000x20")],
        "10m",
        True,
        "",
    ),
    ("NodeClockSkewDetected", "1 ms off", [s("node_timex_offset_seconds", NODE, "0.001x30")], "20m", False, ""),
    (
        "NodeClockSkewDetected",
        "100 ms off, not converging",
        [s("node_timex_offset_seconds", NODE, "0.1x30")],
        "20m",
        True,
        "",
    ),
    (
        "NodeConntrackTableFilling",
        "10 % used",
        [s("node_nf_conntrack_entries", NODE, "100x20"), s("node_nf_conntrack_entries_limit", NODE, "1000x20")],
        "10m",
        False,
        "",
    ),
    (
        "NodeConntrackTableFilling",
        "90 % used",
        [s("node_nf_conntrack_entries", NODE, "900x20"), s("node_nf_conntrack_entries_limit", NODE, "1000x20")],
        "10m",
        True,
        "",
    ),
    (
        "NodeFileDescriptorsExhausting",
        "10 % allocated",
        [s("node_filefd_allocated", NODE, "100x30"), s("node_filefd_maximum", NODE, "1000x30")],
        "20m",
        False,
        "",
    ),
    (
        "NodeFileDescriptorsExhausting",
        "80 % allocated",
        [s("node_filefd_allocated", NODE, "800x30"), s("node_filefd_maximum", NODE, "1000x30")],
        "20m",
        True,
        "",
    ),
    (
        "KubePodNotReady",
        "ready, and a finished Job pod that is not",
        [
            s("kube_pod_status_ready", f'{KSM}, pod="orders-api-1", condition="false"', "0x20"),
            s("kube_pod_status_ready", f'{KSM}, pod="migrate-1", condition="false"', "1x20"),
            s("kube_pod_status_phase", f'{KSM}, pod="migrate-1", phase="Succeeded"', "1x20"),
        ],
        "10m",
        False,
        "",
    ),
    (
        "KubePodNotReady",
        "not ready for 10 minutes",
        [s("kube_pod_status_ready", f'{KSM}, pod="orders-api-1", condition="false"', "1x20")],
        "10m",
        True,
        'pod="orders-api-1"',
    ),
    (
        "KubeDeploymentReplicasMismatch",
        "3 of 3",
        [
            s("kube_deployment_spec_replicas", f'{KSM}, deployment="shop"', "3x20"),
            s("kube_deployment_status_replicas_available", f'{KSM}, deployment="shop"', "3x20"),
        ],
        "15m",
        False,
        "",
    ),
    (
        "KubeDeploymentReplicasMismatch",
        "2 of 3",
        [
            s("kube_deployment_spec_replicas", f'{KSM}, deployment="shop"', "3x20"),
            s("kube_deployment_status_replicas_available", f'{KSM}, deployment="shop"', "2x20"),
        ],
        "15m",
        True,
        "",
    ),
    (
        "KubeStatefulSetReplicasMismatch",
        "3 of 3",
        [
            s("kube_statefulset_replicas", f'{KSM}, statefulset="loki"', "3x20"),
            s("kube_statefulset_status_replicas_ready", f'{KSM}, statefulset="loki"', "3x20"),
        ],
        "15m",
        False,
        "",
    ),
    (
        "KubeStatefulSetReplicasMismatch",
        "2 of 3",
        [
            s("kube_statefulset_replicas", f'{KSM}, statefulset="loki"', "3x20"),
            s("kube_statefulset_status_replicas_ready", f'{KSM}, statefulset="loki"', "2x20"),
        ],
        "15m",
        True,
        "",
    ),
    (
        "KubeRolloutReplicasMismatch",
        "3 of 3",
        [
            s("rollout_info_replicas_desired", 'job="argo-rollouts", namespace="web", name="orders-api"', "3x20"),
            s("rollout_info_replicas_available", 'job="argo-rollouts", namespace="web", name="orders-api"', "3x20"),
        ],
        "15m",
        False,
        "",
    ),
    (
        "KubeRolloutReplicasMismatch",
        "1 of 3",
        [
            s("rollout_info_replicas_desired", 'job="argo-rollouts", namespace="web", name="orders-api"', "3x20"),
            s("rollout_info_replicas_available", 'job="argo-rollouts", namespace="web", name="orders-api"', "1x20"),
        ],
        "15m",
        True,
        'namespace="web"',
    ),
    (
        "KubeDaemonSetRolloutStuck",
        "every pod ready and updated",
        [
            s("kube_daemonset_status_number_ready", f'{KSM}, daemonset="alloy"', "3x30"),
            s("kube_daemonset_status_updated_number_scheduled", f'{KSM}, daemonset="alloy"', "3x30"),
            s("kube_daemonset_status_desired_number_scheduled", f'{KSM}, daemonset="alloy"', "3x30"),
        ],
        "20m",
        False,
        "",
    ),
    (
        "KubeDaemonSetRolloutStuck",
        "one node keeps the old version",
        [
            s("kube_daemonset_status_number_ready", f'{KSM}, daemonset="alloy"', "3x30"),
            s("kube_daemonset_status_updated_number_scheduled", f'{KSM}, daemonset="alloy"', "2x30"),
            s("kube_daemonset_status_desired_number_scheduled", f'{KSM}, daemonset="alloy"', "3x30"),
        ],
        "20m",
        True,
        "",
    ),
    (
        "KubeJobFailed",
        "succeeded",
        [s("kube_job_status_failed", f'{KSM}, job_name="migrate"', "0x10")],
        "5m",
        False,
        "",
    ),
    (
        "KubeJobFailed",
        "a failed pod",
        [s("kube_job_status_failed", f'{KSM}, job_name="migrate"', "1x10")],
        "5m",
        True,
        "",
    ),
    (
        "KubeHpaMaxedOut",
        "5 of at most 10",
        [
            s("kube_horizontalpodautoscaler_status_current_replicas", f'{KSM}, horizontalpodautoscaler="h"', "5x30"),
            s("kube_horizontalpodautoscaler_spec_max_replicas", f'{KSM}, horizontalpodautoscaler="h"', "10x30"),
        ],
        "20m",
        False,
        "",
    ),
    (
        "KubeHpaMaxedOut",
        "10 of at most 10",
        [
            s("kube_horizontalpodautoscaler_status_current_replicas", f'{KSM}, horizontalpodautoscaler="h"', "10x30"),
            s("kube_horizontalpodautoscaler_spec_max_replicas", f'{KSM}, horizontalpodautoscaler="h"', "10x30"),
        ],
        "20m",
        True,
        "",
    ),
    (
        "KubeQuotaAlmostFull",
        "half used",
        [
            s("kube_resourcequota", f'{KSM}, resourcequota="q", resource="requests.cpu", type="used"', "5x30"),
            s("kube_resourcequota", f'{KSM}, resourcequota="q", resource="requests.cpu", type="hard"', "10x30"),
        ],
        "20m",
        False,
        "",
    ),
    (
        "KubeQuotaAlmostFull",
        "95 % used",
        [
            s("kube_resourcequota", f'{KSM}, resourcequota="q", resource="requests.cpu", type="used"', "9.5x30"),
            s("kube_resourcequota", f'{KSM}, resourcequota="q", resource="requests.cpu", type="hard"', "10x30"),
        ],
        "20m",
        True,
        "",
    ),
    (
        "CPUThrottlingHigh",
        "10 % of periods throttled",
        [
            s("container_cpu_cfs_throttled_periods_total", CAD, "0+10x30"),
            s("container_cpu_cfs_periods_total", CAD, "0+100x30"),
        ],
        "20m",
        False,
        "",
    ),
    (
        "CPUThrottlingHigh",
        "50 % of periods throttled",
        [
            s("container_cpu_cfs_throttled_periods_total", CAD, "0+50x30"),
            s("container_cpu_cfs_periods_total", CAD, "0+100x30"),
        ],
        "20m",
        True,
        "",
    ),
    (
        "KubePersistentVolumeFillingUpPredicted",
        "60 % free and steady",
        [
            s("kubelet_volume_stats_available_bytes", PVC, "6000x480"),
            s("kubelet_volume_stats_capacity_bytes", PVC, "10000x480"),
        ],
        "7h",
        False,
        "",
    ),
    (
        "KubePersistentVolumeFillingUpPredicted",
        "losing 2/10000 a minute: full within 4 days",
        [
            s("kubelet_volume_stats_available_bytes", PVC, "4500-2x480"),
            s("kubelet_volume_stats_capacity_bytes", PVC, "10000x480"),
        ],
        "7h",
        True,
        "",
    ),
    (
        "ScrapeJobMissing",
        "kube-state-metrics up",
        [s("up", 'job="kube-state-metrics", instance="10.0.0.1:8080"', "1x10")],
        "8m",
        False,
        'job="kube-state-metrics"',
    ),
    (
        "ScrapeJobMissing",
        "kube-state-metrics down",
        [s("up", 'job="kube-state-metrics", instance="10.0.0.1:8080"', "0x10")],
        "8m",
        True,
        'job="kube-state-metrics", severity="critical"',
    ),
    ("ProbeFailed", "the endpoint answers", [s("probe_success", PROBE, "1x10")], "5m", False, ""),
    ("ProbeFailed", "every pod down", [s("probe_success", PROBE, "0x10")], "5m", True, 'service="orders-api"'),
    (
        "ProbeTLSCertificateExpiring",
        "expires in 30 days",
        [s("probe_ssl_earliest_cert_expiry", PROBE, f"{30 * DAY}x20")],
        "15m",
        False,
        "",
    ),
    (
        "ProbeTLSCertificateExpiring",
        "expires in 3 days",
        [s("probe_ssl_earliest_cert_expiry", PROBE, f"{3 * DAY}x20")],
        "15m",
        True,
        "",
    ),
]
# Fires by design, always: there is no input under which it must stay silent.
ALWAYS_FIRING = {"Watchdog"}


def _test_file(rule_file_names: list[str], cases: list[Case]) -> dict[str, Any]:
    tests = []
    for alert, what, series, at, fires, extra in cases:
        sel = f'alertname="{alert}", alertstate="firing"' + (f", {extra}" if extra else "")
        tests.append(
            {
                "name": f"{alert}: {what}",
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": f"count(ALERTS{{{sel}}})",
                        "eval_time": at,
                        "exp_samples": [{"labels": "{}", "value": 1}] if fires else [],
                    }
                ],
            }
        )
    return {"rule_files": rule_file_names, "evaluation_interval": "1m", "tests": tests}


def _run(tmp_path: Path, cases: list[Case]) -> tuple[int, str]:
    files = rule_files()
    write_rules(files, tmp_path)
    (tmp_path / "platform.test.yaml").write_text(yaml.safe_dump(_test_file(sorted(files), cases), sort_keys=False))
    result = run_tool([PROMTOOL, "test", "rules", "platform.test.yaml"], cwd=tmp_path)
    return result.returncode, result.stdout + result.stderr


def platform_alert_names() -> set[str]:
    groups = platform_alerts.rule_files("https://example.com/docs")
    return {r["alert"] for f in groups.values() for g in f["groups"] for r in g["rules"]}


def test_every_platform_alert_has_a_firing_and_a_quiet_case() -> None:
    fires = {c[0] for c in CASES if c[4]}
    quiet = {c[0] for c in CASES if not c[4]}
    assert platform_alert_names() - fires == set(), "platform alerts without a firing case"
    assert platform_alert_names() - quiet - ALWAYS_FIRING == set(), "platform alerts without a quiet case"


@pytest.mark.tools
def test_promtool_platform_alerts_both_sides(tmp_path: Path) -> None:
    code, out = _run(tmp_path, CASES)
    assert code == 0, out


@pytest.mark.tools
def test_the_harness_reports_a_wrong_expectation(tmp_path: Path) -> None:
    (pressure,) = [c[2] for c in CASES if c[:2] == ("NodeMemoryPressure", "3 % available")]
    wrong: list[Case] = [("NodeMemoryPressure", "3 % wrongly expected quiet", pressure, "10m", False, "")]
    code, out = _run(tmp_path, wrong)
    assert code != 0 and "NodeMemoryPressure" in out
