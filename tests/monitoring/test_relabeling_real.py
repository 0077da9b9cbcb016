"""The rendered scrape configuration against a real Prometheus and fake exporters: the series land with the
labels the rules and dashboards select on. Each case is one of issue #17's measured defects or a label the
per-service rules need; each failed before its fix.

- argo-rollouts: ``rollout_info{namespace="web"}`` must stay ``namespace="web"`` (it arrived as
  ``namespace="argo-rollouts", exported_namespace="web"``: 7 of 11 rollout panels were empty);
- kube-state-metrics: a cluster-scoped series (``kube_node_info``) gets none of the scraper's own pod labels,
  a namespaced one keeps its own namespace and no ``pod`` of the exporter;
- a service's pods: every series carries ``namespace``, ``service`` (pod label ``app.kubernetes.io/name``)
  and ``rollouts_pod_template_hash``;
- blackbox: the probe job asks the exporter for ``/probe?target=<url>&module=<module>`` and the result carries
  the probed service's ``namespace`` and ``service``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components import conventions as cv
from components.canary.monitoring import controller_scrape_target
from components.monitoring import names
from components.monitoring.scrape import prometheus_config
from components.monitoring.specs import ProbeTarget
from tests.monitoring.promsupport import Container, FakeExporter, Pod, Prometheus, pod_targets, swap_discovery
from tests.support.procs import wait_until

ROLLOUTS = (
    'rollout_info{namespace="web",name="orders-api",strategy="canary",traffic_router="Nginx",phase="Healthy"} 1\n'
)
KSM = (
    'kube_node_info{node="node-a",kernel_version="6.1"} 1\n'
    'kube_deployment_spec_replicas{namespace="web",deployment="shop"} 2\n'
)
APP = 'http_requests_total{method="GET",route="/orders",status="200"} 7\n'
PROBES = (
    ProbeTarget("orders-api", "web", "http://orders-api.web.svc:80/readyz"),
    ProbeTarget("vault", "vault", "https://vault.vault.svc:8200/v1/sys/health", "http_vault_health"),
)


def _probe(query: dict[str, list[str]]) -> str:
    # like the blackbox exporter: success depends on what was asked for, so a wrong param shows
    ok = query.get("module") == ["http_2xx"] and query.get("target") == [PROBES[0].url]
    return f"probe_success {1 if ok else 0}\n"


def _pod(name: str, namespace: str, port: int, port_name: str, labels: dict[str, str], **kw: Any) -> Pod:
    return Pod(name, namespace, "127.0.0.1", [Container(name.split("-")[0], [(port_name, port)])], labels=labels, **kw)


@pytest.mark.server
@pytest.mark.tools
def test_series_carry_the_labels_rules_and_dashboards_select_on(tmp_path: Path) -> None:
    rollouts_job = controller_scrape_target()
    with (
        FakeExporter({"/metrics": ROLLOUTS}) as rollouts,
        FakeExporter({"/metrics": KSM}) as ksm,
        FakeExporter({"/metrics": APP}) as app,
        FakeExporter({"/probe": _probe}) as blackbox,
    ):
        cfg = prometheus_config(
            scrape_interval="1s",
            evaluation_interval="1s",
            targets=[rollouts_job],
            probes=PROBES,
            blackbox_address=blackbox.address,
        )
        groups = {
            rollouts_job.name: pod_targets(
                _pod(
                    "argo-rollouts-7d-x1",
                    cv.NS_ROLLOUTS,
                    rollouts.port,
                    str(rollouts_job.port),
                    {cv.LABEL_NAME: "argo-rollouts"},
                )
            ),
            names.KUBE_STATE_METRICS: pod_targets(
                _pod(
                    "kube-state-metrics-5c-x2",
                    cv.NS_MONITORING,
                    ksm.port,
                    names.KUBE_STATE_METRICS_PORT_NAME,
                    {cv.LABEL_NAME: names.KUBE_STATE_METRICS},
                )
            ),
            names.ANNOTATED_PODS_JOB: pod_targets(
                _pod(
                    "orders-api-6f7d9cbb85-x3",
                    "web",
                    app.port,
                    "http",
                    {cv.LABEL_NAME: "orders-api", cv.ROLLOUTS_HASH_POD_LABEL: "6f7d9cbb85"},
                    annotations={cv.ANNOTATION_SCRAPE: "true", cv.ANNOTATION_PORT: str(app.port)},
                )
            ),
        }
        (tmp_path / "rules").mkdir()
        with Prometheus(swap_discovery(cfg, tmp_path, groups, rules_dir=tmp_path / "rules"), tmp_path) as prom:
            wanted = ("rollout_info", "kube_node_info", "kube_deployment_spec_replicas", "http_requests_total")
            wait_until(
                lambda: all(prom.query(m) for m in wanted) and len(prom.query("probe_success")) == 2,
                timeout=60,
                what="every fake exporter scraped",
            )
            series = {m: prom.query(m)[0]["metric"] for m in wanted}
            probes = {p["metric"]["service"]: p for p in prom.query("probe_success")}

    rollout = series["rollout_info"]
    assert rollout["namespace"] == "web" and "exported_namespace" not in rollout, rollout
    node_info = series["kube_node_info"]
    assert not {"namespace", "pod", "container", "app", "service"} & set(node_info), node_info
    deploy = series["kube_deployment_spec_replicas"]
    assert deploy["namespace"] == "web" and "pod" not in deploy and "exported_namespace" not in deploy, deploy
    request = series["http_requests_total"]
    assert (request["namespace"], request["service"], request[cv.ROLLOUTS_HASH_SERIES_LABEL]) == (
        "web",
        "orders-api",
        "6f7d9cbb85",
    )
    orders, vault = probes["orders-api"], probes["vault"]
    assert orders["metric"]["namespace"] == "web" and orders["metric"]["instance"] == PROBES[0].url
    assert orders["value"][1] == "1"  # asked with target=<url>&module=http_2xx
    assert vault["metric"]["namespace"] == "vault" and vault["value"][1] == "0"  # another module: another answer
