"""Infrastructure dashboard: CPU and memory per pod, network I/O, volume usage, nodes and restarts.

Sources: cAdvisor (through the kubelet), kubelet volume stats, kube-state-metrics and node-exporter.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as db

from components.monitoring import names
from components.monitoring.dashboards.common import graph, label_variable, new_dashboard, to_dict

UID = names.DASHBOARD_UID_INFRASTRUCTURE
TITLE = "Infrastructure"
_NS = 'namespace=~"$namespace"'
_CONTAINERS = f'{_NS}, container!="", container!="POD"'


def infrastructure_dashboard() -> dict[str, Any]:
    d = (
        new_dashboard(UID, TITLE, "Resource usage of pods, volumes and nodes.")
        .with_variable(label_variable("namespace", "Namespace", "kube_pod_info"))
        .with_row(db.Row("Pods").id(1))
        .with_panel(
            graph(
                2,
                "CPU usage per pod",
                [
                    (
                        f"sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{{{_CONTAINERS}}}"
                        "[$__rate_interval]))",
                        "{{namespace}}/{{pod}}",
                    )
                ],
                "cores",
            )
        )
        .with_panel(
            graph(
                3,
                "Memory working set per pod",
                [
                    (
                        f"sum by (namespace, pod) (container_memory_working_set_bytes{{{_CONTAINERS}}})",
                        "{{namespace}}/{{pod}}",
                    )
                ],
                "bytes",
            )
        )
        .with_panel(
            graph(
                4,
                "CPU usage / requests per pod",
                [
                    (
                        f"sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{{{_CONTAINERS}}}"
                        "[$__rate_interval]))\n/\nsum by (namespace, pod) "
                        f'(kube_pod_container_resource_requests{{{_NS}, resource="cpu"}})',
                        "{{namespace}}/{{pod}}",
                    )
                ],
                "percentunit",
                description="Above 100 % the pod uses more than it requested.",
            )
        )
        .with_panel(
            graph(
                5,
                "Memory working set / limits per pod",
                [
                    (
                        f"sum by (namespace, pod) (container_memory_working_set_bytes{{{_CONTAINERS}}})\n/\n"
                        f'sum by (namespace, pod) (kube_pod_container_resource_limits{{{_NS}, resource="memory"}})',
                        "{{namespace}}/{{pod}}",
                    )
                ],
                "percentunit",
                description="Near 100 % the container is about to be OOM-killed.",
            )
        )
        .with_row(db.Row("Network and volumes").id(6))
        .with_panel(
            graph(
                7,
                "Network received per pod",
                [
                    (
                        f"sum by (namespace, pod) (rate(container_network_receive_bytes_total{{{_NS}}}"
                        "[$__rate_interval]))",
                        "{{namespace}}/{{pod}}",
                    )
                ],
                "Bps",
            )
        )
        .with_panel(
            graph(
                8,
                "Network transmitted per pod",
                [
                    (
                        f"sum by (namespace, pod) (rate(container_network_transmit_bytes_total{{{_NS}}}"
                        "[$__rate_interval]))",
                        "{{namespace}}/{{pod}}",
                    )
                ],
                "Bps",
            )
        )
        .with_panel(
            graph(
                9,
                "Volume usage",
                [
                    (
                        f"kubelet_volume_stats_used_bytes{{{_NS}}}\n/\nkubelet_volume_stats_capacity_bytes{{{_NS}}}",
                        "{{namespace}}/{{persistentvolumeclaim}}",
                    )
                ],
                "percentunit",
                description="The KubePersistentVolumeFillingUp alert fires at 85 % (warning) and 97 %.",
            )
        )
        .with_panel(
            graph(
                10,
                "Container restarts (1h)",
                [
                    (
                        f"sum by (namespace, pod) (increase(kube_pod_container_status_restarts_total{{{_NS}}}"
                        "[1h])) > 0",
                        "{{namespace}}/{{pod}}",
                    )
                ],
                "short",
            )
        )
        .with_row(db.Row("Nodes").id(11))
        .with_panel(
            graph(
                12,
                "Node CPU utilisation",
                [('1 - avg by (node) (rate(node_cpu_seconds_total{mode="idle"}[$__rate_interval]))', "{{node}}")],
                "percentunit",
            )
        )
        .with_panel(
            graph(
                13,
                "Node memory utilisation",
                [("1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes", "{{node}}")],
                "percentunit",
            )
        )
    )
    return to_dict(d)
