"""The platform's own alerts: the monitoring that watches itself, the nodes, the workloads, what no scrape sees.

- ``watchdog``: ``Watchdog`` fires always; Alertmanager routes it to the heartbeat receiver (a dead-man's
  switch): when the heartbeats stop, the whole alerting path is broken.
- ``prometheus-self`` / ``alertmanager-self``: bad configuration reloads, failing or missed rule evaluations,
  the notification queue and errors, no Alertmanager discovered, TSDB failures, sample limits; Alertmanager
  cluster members that disagree.
- ``node``: filesystems filling up (``predict_linear``), memory pressure, clock skew, conntrack, file
  descriptors (node-exporter).
- ``kubernetes-workloads``: pods not ready; replicas mismatched for Deployments, StatefulSets and Argo
  Rollouts; DaemonSet rollouts stuck; failed Jobs; HPAs at their maximum; quotas almost full; CPU
  throttling; PVCs predicted to fill (kube-state-metrics, cAdvisor, kubelet).
- ``scrape-guards``: ``ScrapeJobMissing`` for every scrape class whose loss would blind an alert
  (``absent(up{job=...} == 1)``: an alert on a series that is not there never fires).
- ``blackbox``: ``ProbeFailed`` (a service or Vault's health endpoint does not answer from outside its pods,
  e.g. every pod is down, so no 5xx is even counted), ``ProbeTLSCertificateExpiring``.

Thresholds follow kube-prometheus' where it has the same alert; ``for`` durations are short where a
human must act quickly (detection in under 5 minutes), long where a condition flaps by nature.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.monitoring import names
from components.monitoring.alert import alert_rule

BLACKBOX_JOB = "blackbox"
WATCHDOG = "Watchdog"
_FS = 'fstype!~"tmpfs|ramfs|squashfs|overlay|nsfs|fuse.lxcfs", mountpoint!~"/(run|var/lib/kubelet/pods)/.*"'


def _groups(base: str, absent_jobs: Sequence[str]) -> list[dict[str, Any]]:
    def a(name: str, expr: str, for_: str, severity: str, summary: str, description: str, **labels: str) -> Any:
        return alert_rule(
            name,
            expr,
            for_=for_,
            severity=severity,
            summary=summary,
            description=description,
            runbook_base_url=base,
            labels=labels or None,
        )

    pod = "{{ $labels.namespace }}/{{ $labels.pod }}"
    watchdog = [
        a(
            WATCHDOG,
            "vector(1)",
            "0s",
            "warning",
            "The alerting pipeline is alive",
            "Always firing. Alertmanager sends it to the heartbeat receiver (dead-man's switch); when that stops "
            "receiving it, Prometheus, Alertmanager or the path between them is broken.",
        )
    ]
    prometheus = [
        a(
            "PrometheusBadConfig",
            'max_over_time(prometheus_config_last_reload_successful{job="prometheus"}[5m]) == 0',
            "5m",
            "critical",
            "Prometheus " + pod + " failed to reload its configuration",
            "The last configuration reload of Prometheus " + pod + " failed: it runs on the previous one and "
            "ignores every change since.",
        ),
        a(
            "PrometheusMissingRuleEvaluations",
            'increase(prometheus_rule_group_iterations_missed_total{job="prometheus"}[5m]) > 0',
            "10m",
            "warning",
            "Prometheus " + pod + " misses rule evaluations",
            "Prometheus " + pod + " missed {{ $value | humanize }} evaluations of group {{ $labels.rule_group }} "
            "in 5 minutes: the group takes longer than its interval; alerts come late.",
        ),
        a(
            "PrometheusNotificationQueueRunningFull",
            'predict_linear(prometheus_notifications_queue_length{job="prometheus"}[5m], 30 * 60)\n'
            '> min_over_time(prometheus_notifications_queue_capacity{job="prometheus"}[5m])',
            "10m",
            "warning",
            "Prometheus " + pod + " alert queue is filling up",
            "The notification queue of Prometheus " + pod + " will be full within 30 minutes; alerts will be dropped.",
        ),
        a(
            "PrometheusErrorSendingAlerts",
            'sum by (namespace, pod) (rate(prometheus_notifications_errors_total{job="prometheus"}[5m]))\n/\n'
            'sum by (namespace, pod) (rate(prometheus_notifications_sent_total{job="prometheus"}[5m])) > 0.01',
            "5m",
            "critical",
            "Prometheus " + pod + " fails to send alerts",
            "{{ $value | humanizePercentage }} of the alerts Prometheus " + pod + " sent to Alertmanager failed.",
        ),
        a(
            "PrometheusNotConnectedToAlertmanagers",
            'max_over_time(prometheus_notifications_alertmanagers_discovered{job="prometheus"}[5m]) < 1',
            "5m",
            "critical",
            "Prometheus " + pod + " has no Alertmanager",
            "Prometheus " + pod + " discovered no Alertmanager: every alert it fires goes nowhere.",
        ),
        a(
            "PrometheusTSDBFailures",
            'increase(prometheus_tsdb_compactions_failed_total{job="prometheus"}[3h]) > 0\n'
            'or increase(prometheus_tsdb_head_truncations_failed_total{job="prometheus"}[3h]) > 0\n'
            'or increase(prometheus_tsdb_reloads_failures_total{job="prometheus"}[3h]) > 0\n'
            'or increase(prometheus_tsdb_wal_corruptions_total{job="prometheus"}[3h]) > 0',
            "0s",
            "warning",
            "Prometheus " + pod + " has storage failures",
            "Prometheus " + pod + " failed {{ $value | humanize }} TSDB compactions, head truncations, block "
            "reloads or WAL reads in 3 hours: its disk usage grows and data may be lost.",
        ),
        a(
            "PrometheusTargetSampleLimitHit",
            'increase(prometheus_target_scrapes_exceeded_sample_limit_total{job="prometheus"}[5m]) > 0',
            "10m",
            "warning",
            "Prometheus " + pod + " drops scrapes over their sample limit",
            "Scrapes rejected by Prometheus " + pod + " for exceeding the sample limit: those targets have no data.",
        ),
    ]
    alertmanager = [
        a(
            "AlertmanagerFailedReload",
            'max_over_time(alertmanager_config_last_reload_successful{job="alertmanager"}[5m]) == 0',
            "5m",
            "critical",
            "Alertmanager " + pod + " failed to reload its configuration",
            "The last configuration reload of Alertmanager " + pod + " failed: routing and receivers are stale.",
        ),
        a(
            "AlertmanagerMembersInconsistent",
            'max_over_time(alertmanager_cluster_members{job="alertmanager"}[5m])\n'
            "< on (namespace) group_left\n"
            'count by (namespace) (max_over_time(alertmanager_cluster_members{job="alertmanager"}[5m]))',
            "10m",
            "critical",
            "Alertmanager " + pod + " does not see every cluster peer",
            "Alertmanager " + pod + " sees {{ $value }} cluster members, fewer than are running: notifications may "
            "be sent twice and silences may be lost (gossip on TCP and UDP 9094).",
        ),
    ]
    node = [
        a(
            "NodeFilesystemFillingUp",
            f'predict_linear(node_filesystem_avail_bytes{{job="node-exporter", {_FS}}}[6h], 24 * 3600) < 0\n'
            f'and node_filesystem_avail_bytes{{job="node-exporter", {_FS}}}\n'
            f'  / node_filesystem_size_bytes{{job="node-exporter", {_FS}}} < 0.4\n'
            f'and node_filesystem_readonly{{job="node-exporter", {_FS}}} == 0',
            "1h",
            "warning",
            "Filesystem {{ $labels.mountpoint }} on {{ $labels.instance }} fills up within a day",
            "At the rate of the last 6 hours, {{ $labels.mountpoint }} ({{ $labels.device }}) on "
            "{{ $labels.instance }} is full within 24 hours.",
        ),
        a(
            "NodeMemoryPressure",
            'node_memory_MemAvailable_bytes{job="node-exporter"}\n'
            '/ node_memory_MemTotal_bytes{job="node-exporter"} < 0.05',
            "5m",
            "critical",
            "Node {{ $labels.instance }} is running out of memory",
            "Only {{ $value | humanizePercentage }} of the memory of {{ $labels.instance }} is available: the "
            "kubelet evicts pods and the kernel OOM-kills.",
        ),
        a(
            "NodeClockSkewDetected",
            '(node_timex_offset_seconds{job="node-exporter"} > 0.05\n'
            ' and deriv(node_timex_offset_seconds{job="node-exporter"}[5m]) >= 0)\n'
            'or\n(node_timex_offset_seconds{job="node-exporter"} < -0.05\n'
            ' and deriv(node_timex_offset_seconds{job="node-exporter"}[5m]) <= 0)',
            "10m",
            "warning",
            "The clock of {{ $labels.instance }} is off",
            "The clock of {{ $labels.instance }} is {{ $value | humanizeDuration }} off and not converging: "
            "TLS, tokens and metrics timestamps break.",
        ),
        a(
            "NodeConntrackTableFilling",
            'node_nf_conntrack_entries{job="node-exporter"}\n'
            '/ node_nf_conntrack_entries_limit{job="node-exporter"} > 0.75',
            "5m",
            "warning",
            "The conntrack table of {{ $labels.instance }} is filling",
            "{{ $value | humanizePercentage }} of the conntrack table of {{ $labels.instance }} is used; when "
            "full, new connections are dropped.",
        ),
        a(
            "NodeFileDescriptorsExhausting",
            'node_filefd_allocated{job="node-exporter"} / node_filefd_maximum{job="node-exporter"} > 0.7',
            "15m",
            "warning",
            "{{ $labels.instance }} is running out of file descriptors",
            "{{ $value | humanizePercentage }} of the file descriptors of {{ $labels.instance }} are allocated.",
        ),
    ]
    ksm = 'job="kube-state-metrics"'
    workloads = [
        a(
            "KubePodNotReady",
            f'max by (namespace, pod) (kube_pod_status_ready{{{ksm}, condition="false"}}) == 1\n'
            "unless on (namespace, pod)\n"
            f'max by (namespace, pod) (kube_pod_status_phase{{{ksm}, phase="Succeeded"}}) == 1',
            "5m",
            "warning",
            "Pod " + pod + " is not ready",
            "Pod " + pod + " has not been ready for 5 minutes: it receives no traffic.",
        ),
        a(
            "KubeDeploymentReplicasMismatch",
            f"kube_deployment_spec_replicas{{{ksm}}}\n> kube_deployment_status_replicas_available{{{ksm}}}",
            "10m",
            "warning",
            "Deployment {{ $labels.namespace }}/{{ $labels.deployment }} lacks replicas",
            "Deployment {{ $labels.deployment }} in {{ $labels.namespace }} has had fewer available replicas "
            "than it wants for 10 minutes.",
        ),
        a(
            "KubeStatefulSetReplicasMismatch",
            f"kube_statefulset_replicas{{{ksm}}}\n> kube_statefulset_status_replicas_ready{{{ksm}}}",
            "10m",
            "warning",
            "StatefulSet {{ $labels.namespace }}/{{ $labels.statefulset }} lacks replicas",
            "StatefulSet {{ $labels.statefulset }} in {{ $labels.namespace }} has had fewer ready replicas than "
            "it wants for 10 minutes.",
        ),
        a(
            "KubeRolloutReplicasMismatch",
            'rollout_info_replicas_desired{job="argo-rollouts"}\n'
            '> rollout_info_replicas_available{job="argo-rollouts"}',
            "10m",
            "warning",
            "Rollout {{ $labels.namespace }}/{{ $labels.name }} lacks replicas",
            "Rollout {{ $labels.name }} in {{ $labels.namespace }} has had fewer available replicas than it "
            "wants for 10 minutes.",
        ),
        a(
            "KubeDaemonSetRolloutStuck",
            f"kube_daemonset_status_number_ready{{{ksm}}}\n< kube_daemonset_status_desired_number_scheduled{{{ksm}}}\n"
            f"or\nkube_daemonset_status_updated_number_scheduled{{{ksm}}}\n"
            f"< kube_daemonset_status_desired_number_scheduled{{{ksm}}}",
            "15m",
            "warning",
            "DaemonSet {{ $labels.namespace }}/{{ $labels.daemonset }} rollout is stuck",
            "DaemonSet {{ $labels.daemonset }} in {{ $labels.namespace }} has not had every pod ready and updated "
            "for 15 minutes: some nodes run an old or no copy.",
        ),
        a(
            "KubeJobFailed",
            f"kube_job_status_failed{{{ksm}}} > 0",
            "0s",
            "warning",
            "Job {{ $labels.namespace }}/{{ $labels.job_name }} failed",
            "Job {{ $labels.job_name }} in {{ $labels.namespace }} has {{ $value }} failed pods.",
        ),
        a(
            "KubeHpaMaxedOut",
            f"kube_horizontalpodautoscaler_status_current_replicas{{{ksm}}}\n"
            f">= kube_horizontalpodautoscaler_spec_max_replicas{{{ksm}}}",
            "15m",
            "warning",
            "HPA {{ $labels.namespace }}/{{ $labels.horizontalpodautoscaler }} is at its maximum",
            "HPA {{ $labels.horizontalpodautoscaler }} in {{ $labels.namespace }} has run at its maximum replicas "
            "for 15 minutes: it cannot absorb more load.",
        ),
        a(
            "KubeQuotaAlmostFull",
            f'kube_resourcequota{{{ksm}, type="used"}}\n'
            f'/ ignoring (type) (kube_resourcequota{{{ksm}, type="hard"}} > 0) > 0.9',
            "15m",
            "warning",
            "Quota {{ $labels.resourcequota }} of {{ $labels.namespace }} is almost full ({{ $labels.resource }})",
            "{{ $value | humanizePercentage }} of the {{ $labels.resource }} quota of {{ $labels.namespace }} is "
            "used: new pods (a canary, an HPA scale-up) will be refused.",
        ),
        a(
            "CPUThrottlingHigh",
            "sum by (namespace, pod, container) "
            '(increase(container_cpu_cfs_throttled_periods_total{job="cadvisor", container!=""}[5m]))\n/\n'
            "sum by (namespace, pod, container) "
            '(increase(container_cpu_cfs_periods_total{job="cadvisor", container!=""}[5m])) > 0.25',
            "15m",
            "warning",
            "Container {{ $labels.container }} of " + pod + " is CPU-throttled",
            "{{ $value | humanizePercentage }} of the CPU periods of container {{ $labels.container }} of " + pod + " "
            "were throttled: its CPU limit is too low for its load; latency suffers.",
        ),
        a(
            "KubePersistentVolumeFillingUpPredicted",
            'predict_linear(kubelet_volume_stats_available_bytes{job="kubelet"}[6h], 4 * 24 * 3600) < 0\n'
            'and kubelet_volume_stats_available_bytes{job="kubelet"}\n'
            '  / kubelet_volume_stats_capacity_bytes{job="kubelet"} < 0.4',
            "1h",
            "warning",
            "Volume {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} fills up within 4 days",
            "At the rate of the last 6 hours, volume {{ $labels.persistentvolumeclaim }} in {{ $labels.namespace }} "
            "is full within 4 days.",
        ),
    ]
    guards = [
        a(
            "ScrapeJobMissing",
            f'absent(up{{job="{job}"}} == 1)',
            "5m",
            "critical" if job in CRITICAL_JOBS else "warning",
            f"No target of scrape job {job} is up",
            f"Prometheus has no healthy target of job {job}: every alert that reads it is blind.",
            job=job,
        )
        for job in absent_jobs
    ]
    blackbox = [
        a(
            "ProbeFailed",
            f'probe_success{{job="{BLACKBOX_JOB}"}} == 0',
            "2m",
            "critical",
            "{{ $labels.service }} in {{ $labels.namespace }} does not answer",
            "The blackbox probe of {{ $labels.instance }} ({{ $labels.service }} in {{ $labels.namespace }}) has "
            "failed for 2 minutes: the endpoint is down from outside its pods.",
        ),
        a(
            "ProbeTLSCertificateExpiring",
            f'probe_ssl_earliest_cert_expiry{{job="{BLACKBOX_JOB}"}} - time() < 14 * 24 * 3600',
            "10m",
            "warning",
            "The certificate of {{ $labels.instance }} expires soon",
            "The TLS certificate served by {{ $labels.instance }} ({{ $labels.service }} in "
            "{{ $labels.namespace }}) expires in {{ $value | humanizeDuration }}.",
        ),
    ]
    return [
        {"name": "watchdog", "rules": watchdog},
        {"name": "prometheus-self", "rules": prometheus},
        {"name": "alertmanager-self", "rules": alertmanager},
        {"name": "node", "rules": node},
        {"name": "kubernetes-workloads", "rules": workloads},
        *([{"name": "scrape-guards", "rules": guards}] if guards else []),
        {"name": "blackbox", "rules": blackbox},
    ]


# Losing these blinds the paging alerts (crash loops, SLOs, probes): critical; the rest warn.
CRITICAL_JOBS = (names.KUBE_STATE_METRICS, names.ANNOTATED_PODS_JOB, names.ALERTMANAGER, BLACKBOX_JOB)
DEFAULT_ABSENT_JOBS = (
    names.PROMETHEUS,
    names.ALERTMANAGER,
    names.KUBE_STATE_METRICS,
    names.NODE_EXPORTER,
    names.KUBELET_JOB,
    names.CADVISOR_JOB,
    names.ANNOTATED_PODS_JOB,
    BLACKBOX_JOB,
)


def rule_files(runbook_base_url: str, absent_jobs: Sequence[str] = DEFAULT_ABSENT_JOBS) -> dict[str, dict[str, Any]]:
    """``{"platform-<group>.yaml": {"groups": [group]}}`` for every group above."""
    return {f"platform-{g['name']}.yaml": {"groups": [g]} for g in _groups(runbook_base_url, absent_jobs)}
