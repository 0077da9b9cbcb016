"""Dashboards of the platform itself: Prometheus, Alertmanager, node resources (utilisation, saturation,
errors: the USE method) and persistent volumes. Variables pick the pod, node or namespace; no literal names.

Sources: the ``prometheus`` and ``alertmanager`` self-scrape jobs, ``node-exporter``, the ``kubelet`` job's
volume stats. Each query is sent to a real Prometheus fed by fake exporters through the rendered jobs
(tests/monitoring/test_platform_dashboards_real.py): every panel must return data.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as db

from components.monitoring import names
from components.monitoring.dashboards.common import graph, label_variable, new_dashboard, single_stat, to_dict

_PROM = f'job="{names.PROMETHEUS}", pod=~"$pod"'
_AM = f'job="{names.ALERTMANAGER}", pod=~"$pod"'
_NODE = f'job="{names.NODE_EXPORTER}", instance=~"$instance"'
_PVC = f'job="{names.KUBELET_JOB}", namespace=~"$namespace"'
_RATE = "[$__rate_interval]"


def prometheus_dashboard() -> dict[str, Any]:
    d = (
        new_dashboard(
            names.DASHBOARD_UID_PROMETHEUS, "Prometheus", "Prometheus itself: targets, ingestion, rules, alerts."
        )
        .with_variable(label_variable("pod", "Pod", f'up{{job="{names.PROMETHEUS}"}}'))
        .with_row(db.Row("Health").id(1))
        .with_panel(
            single_stat(
                2,
                "Last config reload",
                f"min(prometheus_config_last_reload_successful{{{_PROM}}})",
                "bool",
                [(None, "red"), (1, "green")],
                description="1: the running configuration is the mounted one (PrometheusBadConfig).",
            )
        )
        .with_panel(
            single_stat(
                3,
                "Alertmanagers discovered",
                f"min(prometheus_notifications_alertmanagers_discovered{{{_PROM}}})",
                "short",
                [(None, "red"), (1, "green")],
            )
        )
        .with_panel(
            single_stat(4, "Head series", f"sum(prometheus_tsdb_head_series{{{_PROM}}})", "short", [(None, "blue")])
        )
        .with_panel(single_stat(5, "Targets up", "sum(up)", "short", [(None, "blue")], description="All jobs."))
        .with_row(db.Row("Ingestion and rules").id(6))
        .with_panel(
            graph(
                7,
                "Samples appended per second",
                [(f"sum by (pod) (rate(prometheus_tsdb_head_samples_appended_total{{{_PROM}}}{_RATE}))", "{{pod}}")],
                "short",
                span=8,
            )
        )
        .with_panel(
            graph(
                8,
                "Targets down by job",
                [("sum by (job) (up == 0) or sum by (job) (up) * 0", "{{job}}")],
                "short",
                span=8,
            )
        )
        .with_panel(
            graph(
                9,
                "Slowest rule groups (last evaluation)",
                [
                    (
                        f"topk(5, max by (rule_group) (prometheus_rule_group_last_duration_seconds{{{_PROM}}}))",
                        "{{rule_group}}",
                    )
                ],
                "s",
                span=8,
            )
        )
        .with_panel(
            graph(
                10,
                "Rule evaluation failures and missed iterations",
                [
                    (
                        f"sum by (pod) (rate(prometheus_rule_evaluation_failures_total{{{_PROM}}}{_RATE}))",
                        "failures {{pod}}",
                    ),
                    (
                        f"sum by (pod) (rate(prometheus_rule_group_iterations_missed_total{{{_PROM}}}{_RATE}))",
                        "missed {{pod}}",
                    ),
                ],
                "short",
            )
        )
        .with_panel(
            graph(
                11,
                "Notification queue",
                [
                    (f"max by (pod) (prometheus_notifications_queue_length{{{_PROM}}})", "length {{pod}}"),
                    (f"max by (pod) (prometheus_notifications_queue_capacity{{{_PROM}}})", "capacity {{pod}}"),
                ],
                "short",
            )
        )
    )
    return to_dict(d)


def alertmanager_dashboard() -> dict[str, Any]:
    d = (
        new_dashboard(names.DASHBOARD_UID_ALERTMANAGER, "Alertmanager", "Alerts received, notifications, cluster.")
        .with_variable(label_variable("pod", "Pod", f'up{{job="{names.ALERTMANAGER}"}}'))
        .with_row(db.Row("Health").id(1))
        .with_panel(
            single_stat(
                2,
                "Last config reload",
                f"min(alertmanager_config_last_reload_successful{{{_AM}}})",
                "bool",
                [(None, "red"), (1, "green")],
            )
        )
        .with_panel(
            single_stat(
                3,
                "Cluster members (min seen by a pod)",
                f"min(alertmanager_cluster_members{{{_AM}}})",
                "short",
                [(None, "blue")],
                description="Every pod should see every replica (AlertmanagerMembersInconsistent).",
            )
        )
        .with_row(db.Row("Alerts and notifications").id(4))
        .with_panel(
            graph(
                5, "Alerts by state", [(f"sum by (state) (alertmanager_alerts{{{_AM}}})", "{{state}}")], "short", span=8
            )
        )
        .with_panel(
            graph(
                6,
                "Notifications per second by integration",
                [(f"sum by (integration) (rate(alertmanager_notifications_total{{{_AM}}}{_RATE}))", "{{integration}}")],
                "short",
                span=8,
            )
        )
        .with_panel(
            graph(
                7,
                "Failed notifications per second",
                [
                    (
                        f"sum by (integration) (rate(alertmanager_notifications_failed_total{{{_AM}}}{_RATE}))",
                        "{{integration}}",
                    )
                ],
                "short",
                span=8,
            )
        )
    )
    return to_dict(d)


def node_dashboard() -> dict[str, Any]:
    cpus = f'count by (instance) (node_cpu_seconds_total{{{_NODE}, mode="idle"}})'
    d = (
        new_dashboard(
            names.DASHBOARD_UID_NODES, "Node resources", "Utilisation, saturation and errors of every node (USE)."
        )
        .with_variable(label_variable("instance", "Node", f'node_uname_info{{job="{names.NODE_EXPORTER}"}}'))
        .with_row(db.Row("Utilisation").id(1))
        .with_panel(
            graph(
                2,
                "CPU busy",
                [
                    (
                        f'1 - avg by (instance) (rate(node_cpu_seconds_total{{{_NODE}, mode="idle"}}{_RATE}))',
                        "{{instance}}",
                    )
                ],
                "percentunit",
                span=8,
            )
        )
        .with_panel(
            graph(
                3,
                "Memory used",
                [
                    (
                        f"1 - node_memory_MemAvailable_bytes{{{_NODE}}} / node_memory_MemTotal_bytes{{{_NODE}}}",
                        "{{instance}}",
                    )
                ],
                "percentunit",
                span=8,
            )
        )
        .with_panel(
            graph(
                4,
                "Filesystem used",
                [
                    (
                        f'1 - node_filesystem_avail_bytes{{{_NODE}, fstype!~"tmpfs|overlay"}}'
                        f' / node_filesystem_size_bytes{{{_NODE}, fstype!~"tmpfs|overlay"}}',
                        "{{instance}} {{mountpoint}}",
                    )
                ],
                "percentunit",
                span=8,
            )
        )
        .with_row(db.Row("Saturation").id(5))
        .with_panel(
            graph(
                6,
                "Load (1m) per CPU",
                [(f"max by (instance) (node_load1{{{_NODE}}}) / {cpus}", "{{instance}}")],
                "short",
                span=8,
            )
        )
        .with_panel(
            graph(
                7,
                "Major page faults per second",
                [(f"rate(node_vmstat_pgmajfault{{{_NODE}}}{_RATE})", "{{instance}}")],
                "short",
                span=8,
            )
        )
        .with_panel(
            graph(
                8,
                "Disk busy",
                [(f"max by (instance) (rate(node_disk_io_time_seconds_total{{{_NODE}}}{_RATE}))", "{{instance}}")],
                "percentunit",
                span=8,
            )
        )
        .with_row(db.Row("Errors").id(9))
        .with_panel(
            graph(
                10,
                "Network errors per second",
                [
                    (
                        f"sum by (instance) (rate(node_network_receive_errs_total{{{_NODE}}}{_RATE})"
                        f" + rate(node_network_transmit_errs_total{{{_NODE}}}{_RATE}))",
                        "{{instance}}",
                    )
                ],
                "short",
                span=12,
            )
        )
        .with_panel(
            graph(
                11,
                "Conntrack and file descriptors used",
                [
                    (
                        f"node_nf_conntrack_entries{{{_NODE}}} / node_nf_conntrack_entries_limit{{{_NODE}}}",
                        "conntrack {{instance}}",
                    ),
                    (f"node_filefd_allocated{{{_NODE}}} / node_filefd_maximum{{{_NODE}}}", "fds {{instance}}"),
                ],
                "percentunit",
                span=12,
            )
        )
    )
    return to_dict(d)


def volumes_dashboard() -> dict[str, Any]:
    used = f"kubelet_volume_stats_used_bytes{{{_PVC}}} / kubelet_volume_stats_capacity_bytes{{{_PVC}}}"
    d = (
        new_dashboard(names.DASHBOARD_UID_VOLUMES, "Persistent volumes", "Capacity, usage and filling prediction.")
        .with_variable(
            label_variable(
                "namespace", "Namespace", f'kubelet_volume_stats_capacity_bytes{{job="{names.KUBELET_JOB}"}}'
            )
        )
        .with_panel(graph(1, "Used", [(used, "{{namespace}}/{{persistentvolumeclaim}}")], "percentunit"))
        .with_panel(
            graph(
                2,
                "Free bytes",
                [(f"kubelet_volume_stats_available_bytes{{{_PVC}}}", "{{namespace}}/{{persistentvolumeclaim}}")],
                "bytes",
                span=12,
            )
        )
        .with_panel(
            graph(
                3,
                "Free bytes in 4 days, at the last 6 hours' rate",
                [
                    (
                        f"predict_linear(kubelet_volume_stats_available_bytes{{{_PVC}}}[6h], 4 * 24 * 3600)",
                        "{{namespace}}/{{persistentvolumeclaim}}",
                    )
                ],
                "bytes",
                span=12,
                minimum=None,
            )
        )
        .with_panel(
            graph(
                4,
                "Inodes used",
                [
                    (
                        f"kubelet_volume_stats_inodes_used{{{_PVC}}} / kubelet_volume_stats_inodes{{{_PVC}}}",
                        "{{namespace}}/{{persistentvolumeclaim}}",
                    )
                ],
                "percentunit",
            )
        )
    )
    return to_dict(d)
