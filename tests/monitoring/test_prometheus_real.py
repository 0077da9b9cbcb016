"""The rendered Prometheus configuration, checked by promtool and applied by a real Prometheus.

Representative pods (annotated, not annotated, custom port and path, Pending, init container, HTTPS,
platform components) are fed through ``file_sd_configs`` carrying the labels Kubernetes SD would give
them; ``/api/v1/targets`` then shows which targets the rendered relabeling keeps and how.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components import conventions as cv
from components.monitoring import names
from components.monitoring.scrape import prometheus_config
from components.monitoring.specs import ScrapeTarget
from tests.monitoring.promsupport import (
    PROMTOOL,
    Container,
    Pod,
    Prometheus,
    endpointslice_targets,
    node_target,
    pod_targets,
    run_tool,
    swap_discovery,
)
from tests.support.procs import wait_until

SCRAPE = cv.ANNOTATION_SCRAPE
PORT = cv.ANNOTATION_PORT
PATH = cv.ANNOTATION_PATH
SCHEME = cv.ANNOTATION_SCHEME
HASH = "6f7d9cbb85"

VAULT = ScrapeTarget("vault", cv.NS_VAULT, {cv.LABEL_NAME: "vault"}, 8200, path="/v1/sys/metrics?format=prometheus")
LOKI = ScrapeTarget("loki", cv.NS_LOGGING, {cv.LABEL_NAME: "loki"}, "http-metrics", role="service")


def _config(**kwargs: Any) -> dict[str, Any]:
    return prometheus_config(
        scrape_interval="5s",
        evaluation_interval="5s",
        targets=[VAULT, LOKI],
        external_labels={"cluster": "test"},
        **kwargs,
    )


def _pods() -> dict[str, list[dict[str, Any]]]:
    app = Pod(
        "orders-api-6f7d9cbb85-x1",
        "web",
        "127.0.0.11",
        [
            Container("app", [("http", 8080)]),
            Container("proxy", [("admin", 15000)]),
            Container("migrate", [("db", 5432)], init=True),
        ],
        labels={cv.LABEL_APP: "orders-api", cv.LABEL_NAME: "orders-api", cv.ROLLOUTS_HASH_POD_LABEL: HASH},
        annotations={SCRAPE: "true", PORT: "8080"},
    )
    custom = Pod(
        "worker-5c9-x2",
        "batch",
        "127.0.0.12",
        [Container("worker")],
        labels={cv.LABEL_NAME: "worker"},
        annotations={SCRAPE: "true", PORT: "9102", PATH: "/custom/metrics"},
    )
    https_all_ports = Pod(
        "secure-7b-x3",
        "web",
        "127.0.0.13",
        [Container("secure", [("a", 9443), ("b", 9444)])],
        labels={cv.LABEL_APP: "secure"},
        annotations={SCRAPE: "true", SCHEME: "https"},
    )
    not_annotated = Pod(
        "quiet-1-x4", "web", "127.0.0.14", [Container("quiet", [("http", 8080)])], labels={cv.LABEL_APP: "quiet"}
    )
    opted_out = Pod(
        "optout-1-x5",
        "web",
        "127.0.0.15",
        [Container("o", [("http", 8080)])],
        labels={cv.LABEL_APP: "optout"},
        annotations={SCRAPE: "false", PORT: "8080"},
    )
    pending = Pod(
        "pending-1-x6",
        "web",
        "127.0.0.16",
        [Container("p", [("http", 8080)])],
        labels={cv.LABEL_APP: "pending"},
        annotations={SCRAPE: "true", PORT: "8080"},
        phase="Pending",
    )
    finished = Pod(
        "job-1-x7",
        "web",
        "127.0.0.17",
        [Container("j", [("http", 8080)])],
        labels={cv.LABEL_APP: "job"},
        annotations={SCRAPE: "true", PORT: "8080"},
        phase="Succeeded",
    )
    ksm = Pod(
        "kube-state-metrics-1-x8",
        cv.NS_MONITORING,
        "127.0.0.21",
        [
            Container(
                "kube-state-metrics",
                [(names.KUBE_STATE_METRICS_PORT_NAME, 8080), (names.KUBE_STATE_METRICS_TELEMETRY_PORT_NAME, 8081)],
            )
        ],
        labels={cv.LABEL_NAME: names.KUBE_STATE_METRICS},
    )
    prom = Pod(
        "prometheus-0",
        cv.NS_MONITORING,
        "127.0.0.22",
        [
            Container("prometheus", [(names.PROMETHEUS_PORT_NAME, 9090)]),
            Container("config-reloader", [("reloader-web", 8088)]),
        ],
        labels={cv.LABEL_NAME: names.PROMETHEUS},
        annotations={SCRAPE: "true", PORT: "9090"},
    )  # annotated, but its own job scrapes it
    vault = Pod(
        "vault-0",
        cv.NS_VAULT,
        "127.0.0.31",
        [Container("vault", [("http", 8200), ("cluster", 8201)])],
        labels={cv.LABEL_NAME: "vault"},
    )
    vault_lookalike = Pod(
        "vault-0", "other", "127.0.0.32", [Container("vault", [("http", 8200)])], labels={cv.LABEL_NAME: "vault"}
    )
    loki = Pod(
        "loki-0",
        cv.NS_LOGGING,
        "127.0.0.33",
        [Container("loki", [("http-metrics", 3100)])],
        labels={cv.LABEL_NAME: "loki"},
    )
    node_exporter = Pod(
        "node-exporter-abc",
        cv.NS_NODE_EXPORTER,
        "127.0.0.41",
        [Container("node-exporter", [(names.NODE_EXPORTER_PORT_NAME, 9100)])],
        labels={cv.LABEL_NAME: names.NODE_EXPORTER},
        node="node-a",
    )
    every_pod = [
        app,
        custom,
        https_all_ports,
        not_annotated,
        opted_out,
        pending,
        finished,
        ksm,
        prom,
        vault,
        vault_lookalike,
        loki,
        node_exporter,
    ]
    all_targets = [g for p in every_pod for g in pod_targets(p)]
    return {
        # Kubernetes SD gives every job every pod of its namespace(s); the relabeling must select.
        names.ANNOTATED_PODS_JOB: all_targets,
        names.KUBE_STATE_METRICS: all_targets,
        names.PROMETHEUS: all_targets,
        names.NODE_EXPORTER: all_targets,
        "vault": all_targets,
        "loki": endpointslice_targets("loki", {cv.LABEL_NAME: "loki"}, "http-metrics", 3100, [loki])
        + endpointslice_targets("loki-grpc", {cv.LABEL_NAME: "loki"}, "grpc", 9095, [loki]),
        names.KUBELET_JOB: [node_target("node-a", "127.0.0.41"), node_target("node-b", "127.0.0.42")],
        names.CADVISOR_JOB: [node_target("node-a", "127.0.0.41"), node_target("node-b", "127.0.0.42")],
    }


@pytest.mark.tools
@pytest.mark.parametrize("kubelet", ["direct", "apiserver"])
def test_promtool_check_config(tmp_path: Path, kubelet: str) -> None:
    cfg = swap_discovery(_config(kubelet=kubelet), tmp_path, _pods(), rules_dir=tmp_path / "rules")
    (tmp_path / "rules").mkdir()
    path = tmp_path / "prometheus.yml"
    from components.monitoring.scrape import to_yaml

    path.write_text(to_yaml(cfg))
    result = run_tool([PROMTOOL, "check", "config", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.tools
def test_unswapped_config_is_rejected_only_for_kubernetes_sd(tmp_path: Path) -> None:
    """Guards the premise of the swap: 2.42 rejects nothing but the missing Kubernetes SD."""
    from components.monitoring.scrape import to_yaml

    path = tmp_path / "prometheus.yml"
    path.write_text(to_yaml(_config()))
    result = run_tool([PROMTOOL, "check", "config", "--syntax-only", str(path)])
    assert result.returncode != 0
    errors = [line for line in (result.stdout + result.stderr).splitlines() if "line " in line]
    assert errors and all("field kubernetes_sd_configs not found" in e for e in errors), errors


def _by_job(active: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for t in active:
        out.setdefault(t["labels"]["job"], []).append(t)
    return out


@pytest.mark.server
@pytest.mark.tools
def test_real_prometheus_keeps_the_right_targets(tmp_path: Path) -> None:
    cfg = swap_discovery(_config(), tmp_path, _pods(), rules_dir=tmp_path / "rules")
    (tmp_path / "rules").mkdir()
    expected_jobs = {
        names.ANNOTATED_PODS_JOB: 4,
        names.KUBE_STATE_METRICS: 1,
        names.PROMETHEUS: 1,
        names.NODE_EXPORTER: 1,
        "vault": 1,
        "loki": 1,
        names.KUBELET_JOB: 2,
        names.CADVISOR_JOB: 2,
    }
    with Prometheus(cfg, tmp_path) as prom:

        def settled() -> bool:
            data = prom.api("targets")
            jobs = _by_job(data["activeTargets"])
            return {j: len(ts) for j, ts in jobs.items()} == expected_jobs

        wait_until(settled, timeout=90, what="discovered targets to settle")
        data = prom.api("targets")
    jobs = _by_job(data["activeTargets"])

    pods = {(t["labels"]["pod"], t["scrapeUrl"]): t["labels"] for t in jobs[names.ANNOTATED_PODS_JOB]}
    assert set(pods) == {
        ("orders-api-6f7d9cbb85-x1", "http://127.0.0.11:8080/metrics"),  # annotation port; sidecar + init dropped
        ("worker-5c9-x2", "http://127.0.0.12:9102/custom/metrics"),  # custom port and path, no declared port
        ("secure-7b-x3", "https://127.0.0.13:9443/metrics"),  # scheme annotation, every declared port
        ("secure-7b-x3", "https://127.0.0.13:9444/metrics"),
    }
    app = pods[("orders-api-6f7d9cbb85-x1", "http://127.0.0.11:8080/metrics")]
    assert {k: v for k, v in app.items() if not k.startswith("__")} == {
        "job": names.ANNOTATED_PODS_JOB,
        "instance": "127.0.0.11:8080",
        "namespace": "web",
        "pod": "orders-api-6f7d9cbb85-x1",
        "container": "app",
        "node": "node-a",
        "app": "orders-api",
        "service": "orders-api",  # pod label app.kubernetes.io/name: the per-service SLI rules select on it
        cv.ROLLOUTS_HASH_SERIES_LABEL: HASH,
    }
    worker = pods[("worker-5c9-x2", "http://127.0.0.12:9102/custom/metrics")]
    assert worker["app"] == "worker"  # falls back to app.kubernetes.io/name
    assert cv.ROLLOUTS_HASH_SERIES_LABEL not in worker

    dropped = {
        t["discoveredLabels"].get("__meta_kubernetes_pod_name")
        for t in data["droppedTargets"]
        if t["discoveredLabels"].get("job") == names.ANNOTATED_PODS_JOB
    }
    assert {"quiet-1-x4", "optout-1-x5", "pending-1-x6", "job-1-x7", "prometheus-0"} <= dropped

    (ksm,) = jobs[names.KUBE_STATE_METRICS]
    assert ksm["scrapeUrl"] == "http://127.0.0.21:8080/metrics"  # telemetry port not scraped
    # honor_labels: the scraper's own namespace/pod/container would be pinned on cluster-scoped series
    assert not {"namespace", "pod", "container", "app"} & set(ksm["labels"]), ksm["labels"]
    (prom_t,) = jobs[names.PROMETHEUS]
    assert prom_t["scrapeUrl"] == "http://127.0.0.22:9090/metrics"  # the reloader sidecar is not
    (vault,) = jobs["vault"]
    assert vault["scrapeUrl"] == "http://127.0.0.31:8200/v1/sys/metrics?format=prometheus"
    assert vault["labels"]["namespace"] == cv.NS_VAULT  # the look-alike in namespace "other" is dropped
    (loki,) = jobs["loki"]
    assert loki["scrapeUrl"] == "http://127.0.0.33:3100/metrics"
    assert loki["labels"]["service"] == "loki" and loki["labels"]["pod"] == "loki-0"
    (node_exporter,) = jobs[names.NODE_EXPORTER]
    assert node_exporter["labels"]["node"] == "node-a"
    kubelet = sorted((t["scrapeUrl"], t["labels"]["node"]) for t in jobs[names.KUBELET_JOB])
    assert kubelet == [("https://127.0.0.41:10250/metrics", "node-a"), ("https://127.0.0.42:10250/metrics", "node-b")]
    cadvisor = sorted(t["scrapeUrl"] for t in jobs[names.CADVISOR_JOB])
    assert cadvisor == ["https://127.0.0.41:10250/metrics/cadvisor", "https://127.0.0.42:10250/metrics/cadvisor"]
    for t in data["activeTargets"]:
        assert t["labels"]["job"] and "__tmp_port" not in t["labels"]
        assert t["scrapeUrl"].split("/")[2].startswith("127.0.0."), t["scrapeUrl"]


@pytest.mark.server
@pytest.mark.tools
def test_real_prometheus_alertmanager_discovery(tmp_path: Path) -> None:
    """Prometheus sends to every Alertmanager pod on port ``web``, not to other pods or ports."""
    am_pods = [
        Pod(
            f"alertmanager-{i}",
            cv.NS_MONITORING,
            f"127.0.0.{51 + i}",
            [
                Container(
                    "alertmanager", [(names.ALERTMANAGER_PORT_NAME, 9093), (names.ALERTMANAGER_CLUSTER_PORT_NAME, 9094)]
                )
            ],
            labels={cv.LABEL_NAME: names.ALERTMANAGER},
        )
        for i in range(2)
    ]
    other = Pod(
        "grafana-1",
        cv.NS_MONITORING,
        "127.0.0.60",
        [Container("grafana", [("web", 3000)])],
        labels={cv.LABEL_NAME: names.GRAFANA},
    )
    groups = [g for p in [*am_pods, other] for g in pod_targets(p)]
    cfg = swap_discovery(_config(), tmp_path, {}, alertmanager_groups=groups, rules_dir=tmp_path / "rules")
    (tmp_path / "rules").mkdir()
    with Prometheus(cfg, tmp_path) as prom:

        def discovered() -> bool:
            return len(prom.api("alertmanagers")["activeAlertmanagers"]) == 2

        wait_until(discovered, timeout=30, what="alertmanagers to be discovered")
        urls = sorted(a["url"] for a in prom.api("alertmanagers")["activeAlertmanagers"])
    assert urls == ["http://127.0.0.51:9093/api/v2/alerts", "http://127.0.0.52:9093/api/v2/alerts"]
