"""Every panel query of the Prometheus, Alertmanager, node-resources, persistent-volume, infrastructure,
alerts-overview and Vault dashboards returns data from a real Prometheus, scraping through the rendered jobs
and their relabeling:

- the ``prometheus`` job scrapes this very Prometheus (real self-metrics and ALERTS, with the rules loaded);
- ``alertmanager``, ``node-exporter``, ``kube-state-metrics``, ``vault``, ``kubelet`` and ``cadvisor`` (HTTPS,
  bearer token, as rendered) scrape fake exporters serving the metric names and labels of Alertmanager
  0.28, node-exporter 1.9, kube-state-metrics 2.15, Vault and the kubelet.

An empty panel is a failure: the variable queries too must list something.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from components import conventions as cv
from components.monitoring import names
from components.monitoring.dashboards import collect_promql, for_prometheus
from components.monitoring.dashboards.alerts import alerts_dashboard
from components.monitoring.dashboards.infrastructure import infrastructure_dashboard
from components.monitoring.dashboards.platform import (
    alertmanager_dashboard,
    node_dashboard,
    prometheus_dashboard,
    volumes_dashboard,
)
from components.monitoring.rules import rule_files
from components.monitoring.scrape import prometheus_config
from components.monitoring.specs import ScrapeTarget
from components.vault.dashboard import vault_dashboard
from tests.monitoring.promsupport import (
    Container,
    FakeExporter,
    Pod,
    Prometheus,
    node_target,
    pod_targets,
    promql_errors,
    self_signed_certificate,
    swap_discovery,
    write_rules,
)
from tests.support.procs import wait_until

ALERTMANAGER = "\n".join(
    [
        "alertmanager_config_last_reload_successful 1",
        "alertmanager_cluster_members 3",
        'alertmanager_alerts{state="active"} 4',
        'alertmanager_alerts{state="suppressed"} 1',
        'alertmanager_notifications_total{integration="slack"} 12',
        'alertmanager_notifications_failed_total{integration="slack",reason="other"} 1',
        'alertmanager_alerts_received_total{status="firing",version="v2"} 30',
    ]
)
CADVISOR = "\n".join(
    f'{name}{{namespace="web",pod="orders-api-1",container="{c}",interface="eth0"}} {v}'
    for name, v in (
        ("container_cpu_usage_seconds_total", 12),
        ("container_memory_working_set_bytes", 1.5e8),
        ("container_network_receive_bytes_total", 1e6),
        ("container_network_transmit_bytes_total", 2e6),
    )
    for c in ("app",)
)
VAULT = "\n".join(
    [
        "vault_core_unsealed 1",
        "vault_core_active 1",
        "vault_core_handle_request_count 50",
        'vault_core_handle_request{quantile="0.99"} 3.2',
        "vault_token_count 4",
        "vault_expire_num_leases 2",
    ]
)


class _Ksm:
    """kube-state-metrics: the app's pod, its requests and limits, a restart on every scrape."""

    def __init__(self) -> None:
        self.restarts = itertools.count()

    def __call__(self, _query: dict[str, list[str]]) -> str:
        pod = 'namespace="web",pod="orders-api-1"'
        return (
            "\n".join(
                [
                    f'kube_pod_info{{{pod},node="node-a",created_by_kind="ReplicaSet"}} 1',
                    f'kube_pod_container_resource_requests{{{pod},container="app",resource="cpu",unit="core"}} 0.25',
                    f'kube_pod_container_resource_limits{{{pod},container="app",resource="memory",unit="byte"}} 5e8',
                    f'kube_pod_container_status_restarts_total{{{pod},container="app"}} {next(self.restarts)}',
                ]
            )
            + "\n"
        )


NODE = "\n".join(
    [
        'node_uname_info{nodename="node-a",release="6.1.0",sysname="Linux"} 1',
        'node_cpu_seconds_total{cpu="0",mode="idle"} 1000',
        'node_cpu_seconds_total{cpu="0",mode="user"} 200',
        'node_cpu_seconds_total{cpu="1",mode="idle"} 1100',
        "node_memory_MemAvailable_bytes 4e9",
        "node_memory_MemTotal_bytes 8e9",
        'node_filesystem_avail_bytes{device="sda1",fstype="ext4",mountpoint="/"} 5e10',
        'node_filesystem_size_bytes{device="sda1",fstype="ext4",mountpoint="/"} 1e11',
        "node_load1 0.7",
        "node_vmstat_pgmajfault 42",
        'node_disk_io_time_seconds_total{device="sda"} 30',
        'node_network_receive_errs_total{device="eth0"} 0',
        'node_network_transmit_errs_total{device="eth0"} 0',
        "node_nf_conntrack_entries 900",
        "node_nf_conntrack_entries_limit 262144",
        "node_filefd_allocated 2048",
        "node_filefd_maximum 1e6",
    ]
)
PVC = 'namespace="monitoring",persistentvolumeclaim="data-prometheus-0"'
KUBELET = "\n".join(
    [
        f"kubelet_volume_stats_capacity_bytes{{{PVC}}} 5e10",
        f"kubelet_volume_stats_available_bytes{{{PVC}}} 3e10",
        f"kubelet_volume_stats_used_bytes{{{PVC}}} 2e10",
        f"kubelet_volume_stats_inodes{{{PVC}}} 3e6",
        f"kubelet_volume_stats_inodes_used{{{PVC}}} 1e4",
    ]
)


def _pod(name: str, namespace: str, app: str, port_name: str, port: int) -> Pod:
    return Pod(name, namespace, "127.0.0.1", [Container(app, [(port_name, port)])], labels={cv.LABEL_NAME: app})


@pytest.mark.server
@pytest.mark.tools
def test_every_platform_dashboard_query_returns_data(tmp_path: Path) -> None:
    dashboards = {
        d["uid"]: d
        for d in (
            prometheus_dashboard(),
            alertmanager_dashboard(),
            node_dashboard(),
            volumes_dashboard(),
            infrastructure_dashboard(),
            alerts_dashboard(),
            vault_dashboard(),
        )
    }
    rules_dir = tmp_path / "rules"
    write_rules(rule_files(), rules_dir)  # rule groups, so the rule metrics exist
    with (
        FakeExporter({"/metrics": ALERTMANAGER + "\n"}) as am,
        FakeExporter({"/metrics": NODE + "\n"}) as node,
        FakeExporter(
            {"/metrics": KUBELET + "\n", "/metrics/cadvisor": CADVISOR + "\n"}, tls=self_signed_certificate(tmp_path)
        ) as kubelet,
        FakeExporter({"/metrics": _Ksm()}) as ksm,
        FakeExporter({"/v1/sys/metrics": VAULT + "\n"}) as vault,
    ):
        groups = {
            names.ALERTMANAGER: pod_targets(
                _pod("alertmanager-0", cv.NS_MONITORING, names.ALERTMANAGER, names.ALERTMANAGER_PORT_NAME, am.port)
            ),
            names.NODE_EXPORTER: pod_targets(
                _pod(
                    "node-exporter-x1",
                    cv.NS_NODE_EXPORTER,
                    names.NODE_EXPORTER,
                    names.NODE_EXPORTER_PORT_NAME,
                    node.port,
                )
            ),
            names.KUBELET_JOB: [node_target("node-a", "127.0.0.1", kubelet.port)],
            names.CADVISOR_JOB: [node_target("node-a", "127.0.0.1", kubelet.port)],
            names.KUBE_STATE_METRICS: pod_targets(
                _pod(
                    "kube-state-metrics-5c-x1",
                    cv.NS_MONITORING,
                    names.KUBE_STATE_METRICS,
                    names.KUBE_STATE_METRICS_PORT_NAME,
                    ksm.port,
                )
            ),
            "vault": pod_targets(
                Pod(
                    "vault-0",
                    cv.NS_VAULT,
                    "127.0.0.1",
                    [Container("vault", [("api", vault.port)])],
                    labels={cv.LABEL_NAME: "vault"},
                )
            ),
        }
        vault_job = ScrapeTarget("vault", cv.NS_VAULT, {cv.LABEL_NAME: "vault"}, vault.port, path="/v1/sys/metrics")
        cfg = swap_discovery(
            prometheus_config(scrape_interval="1s", evaluation_interval="1s", targets=[vault_job]),
            tmp_path,
            groups,
            rules_dir=rules_dir,
        )
        prom = Prometheus(cfg, tmp_path)
        # the prometheus job scrapes this Prometheus itself: its port is known only now
        me = _pod("prometheus-0", cv.NS_MONITORING, names.PROMETHEUS, names.PROMETHEUS_PORT_NAME, prom.port)
        (tmp_path / "sd" / f"{names.PROMETHEUS}.json").write_text(json.dumps(pod_targets(me)))
        with prom:
            exprs = {uid: [for_prometheus(e) for e in collect_promql(d)] for uid, d in dashboards.items()}
            every = [e for es in exprs.values() for e in es]
            assert promql_errors(prom, every) == {}

            def empty() -> list[str]:
                return [e for e in every if not prom.query(e)]

            try:
                wait_until(lambda: not empty(), timeout=30, what="every platform dashboard query to return data")
            except TimeoutError as exc:
                raise AssertionError(f"{exc}; still empty: {empty()}") from None
    assert all(exprs.values())
