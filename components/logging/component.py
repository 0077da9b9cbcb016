"""Logging: Loki (single-binary StatefulSet) and the Alloy log collector (DaemonSet) as Kubernetes objects.

The configurations come from the builders in this folder (``loki_config``, ``alloy_config``); this module
only turns them into resources:

- Loki: ServiceAccount (no API token), ConfigMap ``loki-config`` (labelled ``app.kubernetes.io/name:
  loki``, key ``loki.yaml``: the policy pack checks its retention), StatefulSet with one persistent
  volume, Services ``loki`` (HTTP 3100, gRPC 9095) and ``loki-headless``, a PodDisruptionBudget, and a
  NetworkPolicy letting in-cluster clients push and query on 3100 (gRPC only from Loki itself).
  Filesystem storage makes Loki a single replica by design (the compactor must be a singleton and the
  chunks live on one ReadWriteOnce volume).
- Alloy: ServiceAccount with a ClusterRole limited to get/list/watch ``pods`` and get ``pods/log``,
  ConfigMap ``alloy-config``, a DaemonSet on every node (tolerates every taint) with no host access at all
  (logs are read through the API), and a NetworkPolicy allowing egress to Loki and the API server only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kb
from components.config import Resources, Settings
from components.logging import alloy_config as alloy_builder
from components.logging import loki_config as loki_builder
from components.logging import names
from components.versions import image

NS = names.NAMESPACE
ALLOY_RESOURCES = {"dev": Resources("50m", "96Mi", "500m", "256Mi"), "prod": Resources("100m", "192Mi", "1", "512Mi")}
LOKI_TERMINATION_GRACE = 60  # let the ingester checkpoint its WAL on shutdown
API_SERVER_PORTS = (443, 6443)  # the Kubernetes API as seen from pods (Service 443, endpoints often 6443)
# Alive when Loki's HTTP server answers; ready (/ready) only when its modules run.
LOKI_LIVENESS = names.LOKI_BUILDINFO_PATH


R = TypeVar("R", bound=pulumi.CustomResource)


def _res(cls: Callable[..., R], name: str, *, opts: pulumi.ResourceOptions, **props: Any) -> R:
    """``cls(name, opts=opts, **props)``. The properties are the plain dicts of ``components.k8s``, which
    mypy cannot match against pulumi_kubernetes' TypedDict overloads; the rendered objects are validated
    against the Kubernetes schemas instead (kubernetes-validate --strict in the tests)."""
    return cls(name, opts=opts, **props)


@dataclass
class LoggingArgs:
    settings: Settings
    # (namespace, service name) of every service whose JSON logs Alloy parses into labels
    json_services: tuple[tuple[str, str], ...] = ()


def _labels(name: str, component: str) -> dict[str, str]:
    return kb.labels(name, component, instance=f"{name}-{NS}")


def loki_container(settings: Settings) -> dict[str, object]:
    ports = {names.LOKI_HTTP_PORT_NAME: names.LOKI_HTTP_PORT, names.LOKI_GRPC_PORT_NAME: names.LOKI_GRPC_PORT}
    http = names.LOKI_HTTP_PORT_NAME
    # The image has no shell (distroless): every probe is an HTTP GET.
    return kb.container(
        names.LOKI,
        image("loki"),
        resources=settings.logging.resources,
        ports=ports,
        args=[f"-config.file={names.LOKI_CONFIG_DIR}/{names.LOKI_CONFIG_KEY}", "-target=all"],
        volume_mounts=[
            kb.mount("config", names.LOKI_CONFIG_DIR, read_only=True),
            kb.mount("data", names.LOKI_DATA_DIR),
            kb.mount("tmp", "/tmp"),  # noqa: S108
        ],
        readiness=kb.http_probe(names.LOKI_READY_PATH, http, period=10, failure_threshold=3),
        liveness=kb.http_probe(LOKI_LIVENESS, http, period=20, failure_threshold=6),
        # WAL replay after a crash can take minutes: ready only afterwards, not killed meanwhile.
        startup=kb.http_probe(names.LOKI_READY_PATH, http, period=10, failure_threshold=60),
    )


def alloy_container(settings: Settings) -> dict[str, object]:
    http = names.ALLOY_HTTP_PORT_NAME
    return kb.container(
        names.ALLOY,
        image("alloy"),
        resources=ALLOY_RESOURCES["prod" if settings.is_prod else "dev"],
        args=[
            "run",
            f"{names.ALLOY_CONFIG_DIR}/{names.ALLOY_CONFIG_KEY}",
            f"--storage.path={names.ALLOY_DATA_DIR}",
            f"--server.http.listen-addr=0.0.0.0:{names.ALLOY_HTTP_PORT}",
            "--disable-reporting",
            "--stability.level=generally-available",
        ],
        ports={http: names.ALLOY_HTTP_PORT},
        env=[kb.env_from_field(names.NODE_NAME_ENV, "spec.nodeName")],
        volume_mounts=[
            kb.mount("config", names.ALLOY_CONFIG_DIR, read_only=True),
            kb.mount("data", names.ALLOY_DATA_DIR),
            kb.mount("tmp", "/tmp"),  # noqa: S108
        ],
        readiness=kb.http_probe("/-/ready", http, period=10),
        liveness=kb.http_probe("/-/healthy", http, period=20, failure_threshold=5),
    )


class Logging(pulumi.ComponentResource):
    """Loki and Alloy in the logging namespace; outputs the in-cluster push and query URLs."""

    push_url: pulumi.Output[str]
    query_url: pulumi.Output[str]

    def __init__(self, name: str, args: LoggingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hardening:logging:Logging", name, None, opts)
        s = args.settings
        self._child = pulumi.ResourceOptions(parent=self)
        # Build (and validate) both configurations before registering anything.
        self.loki_yaml = loki_builder.render(loki_builder.loki_config(loki_builder.from_settings(s)))
        self.alloy_river = alloy_builder.alloy_config(alloy_builder.from_services(args.json_services))
        self._loki(s)
        self._alloy(s)
        self.push_url = pulumi.Output.from_input(names.loki_push_url(NS))
        self.query_url = pulumi.Output.from_input(names.loki_base_url(NS))
        self.register_outputs({"pushUrl": self.push_url, "queryUrl": self.query_url})

    # --- Loki -----------------------------------------------------------------------------------------
    def _loki(self, s: Settings) -> None:
        n = names.LOKI
        lbls = _labels(n, "logs-store")
        sa = _res(
            k8s.core.v1.ServiceAccount,
            n,
            metadata=kb.meta(n, NS, lbls),
            automount_service_account_token=False,
            opts=self._child,
        )
        config = _res(
            k8s.core.v1.ConfigMap,
            names.LOKI_CONFIG_MAP,
            metadata=kb.meta(names.LOKI_CONFIG_MAP, NS, lbls),
            data={names.LOKI_CONFIG_KEY: self.loki_yaml},
            opts=self._child,
        )
        pod = kb.pod_spec(
            [loki_container(s)],
            run_as_user=names.LOKI_RUN_AS,
            fs_group=names.LOKI_RUN_AS,
            termination_grace=LOKI_TERMINATION_GRACE,
            volumes=[kb.config_volume("config", names.LOKI_CONFIG_MAP), kb.empty_dir("tmp", "1Gi")],
        )
        _res(
            k8s.apps.v1.StatefulSet,
            n,
            metadata=kb.meta(n, NS, lbls),
            spec={
                # Filesystem storage: one replica owns the volume (and the compactor must be a singleton).
                "replicas": 1,
                "service_name": names.LOKI_HEADLESS,
                "pod_management_policy": "OrderedReady",
                "update_strategy": {"type": "RollingUpdate"},
                "selector": {"match_labels": kb.selector(n)},
                "template": {
                    "metadata": {
                        "labels": lbls,
                        "annotations": {
                            # roll the pod when the configuration changes (Loki reads it at start-up)
                            "hardening/config-hash": _short_hash(self.loki_yaml)
                        },
                    },
                    "spec": pod,
                },
                "volume_claim_templates": [kb.pvc_template("data", s.logging.storage, s.cluster.storage_class, lbls)],
                "persistent_volume_claim_retention_policy": {"when_deleted": "Retain", "when_scaled": "Retain"},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[sa, config]),
        )
        ports = {names.LOKI_HTTP_PORT_NAME: names.LOKI_HTTP_PORT, names.LOKI_GRPC_PORT_NAME: names.LOKI_GRPC_PORT}
        _res(
            k8s.core.v1.Service,
            n,
            metadata=kb.meta(n, NS, lbls),
            spec={"selector": kb.selector(n), "ports": kb.service_ports(ports)},
            opts=self._child,
        )
        _res(
            k8s.core.v1.Service,
            names.LOKI_HEADLESS,
            metadata=kb.meta(names.LOKI_HEADLESS, NS, lbls),
            spec={
                "cluster_ip": "None",
                "publish_not_ready_addresses": True,
                "selector": kb.selector(n),
                "ports": kb.service_ports(ports),
            },
            opts=self._child,
        )
        # One replica: the budget documents that voluntary disruptions (drains) may take it down.
        _res(
            k8s.policy.v1.PodDisruptionBudget,
            n,
            metadata=kb.meta(n, NS, lbls),
            spec={"max_unavailable": 1, "selector": {"match_labels": kb.selector(n)}},
            opts=self._child,
        )
        _res(
            k8s.networking.v1.NetworkPolicy,
            f"{n}-allow",
            metadata=kb.meta(f"allow-{n}", NS, lbls),
            spec=kb.network_policy_spec(
                kb.selector(n),
                # Alloy, Grafana and other teams' clients (the exported push/query URLs) in the cluster;
                # gRPC is internal to the single binary.
                ingress=[
                    ([{"namespace_selector": {}}], [names.LOKI_HTTP_PORT]),
                    ([{"pod_selector": {"match_labels": kb.selector(n)}}], [names.LOKI_GRPC_PORT]),
                ],
            ),
            opts=self._child,
        )

    # --- Alloy ----------------------------------------------------------------------------------------
    def _alloy(self, s: Settings) -> None:
        n = names.ALLOY
        lbls = _labels(n, "logs-collector")
        sa = _res(
            k8s.core.v1.ServiceAccount,
            n,
            metadata=kb.meta(n, NS, lbls),
            automount_service_account_token=False,
            opts=self._child,
        )
        role = _res(
            k8s.rbac.v1.ClusterRole,
            n,
            metadata=kb.meta(names.ALLOY_CLUSTER_ROLE, None, lbls),
            rules=[
                kb.policy_rule([""], ["pods"], ["get", "list", "watch"]),  # discovery + tailer status
                kb.policy_rule([""], ["pods/log"], ["get"]),
            ],  # the log streams
            opts=self._child,
        )
        binding = _res(
            k8s.rbac.v1.ClusterRoleBinding,
            n,
            metadata=kb.meta(names.ALLOY_CLUSTER_ROLE, None, lbls),
            role_ref={
                "api_group": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": names.ALLOY_CLUSTER_ROLE,
            },
            subjects=[{"kind": "ServiceAccount", "name": n, "namespace": NS}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role]),
        )
        config = _res(
            k8s.core.v1.ConfigMap,
            names.ALLOY_CONFIG_MAP,
            metadata=kb.meta(names.ALLOY_CONFIG_MAP, NS, lbls),
            data={names.ALLOY_CONFIG_KEY: self.alloy_river},
            opts=self._child,
        )
        pod = kb.pod_spec(
            [alloy_container(s)],
            service_account=n,
            run_as_user=names.ALLOY_RUN_AS,
            fs_group=names.ALLOY_RUN_AS,
            volumes=[
                kb.config_volume("config", names.ALLOY_CONFIG_MAP),
                kb.empty_dir("data", "256Mi"),
                kb.empty_dir("tmp", "64Mi"),
            ],
            # every node's pods are collected, including nodes with taints (control plane, dedicated pools)
            extra={"tolerations": [{"operator": "Exists"}]},
        )
        _res(
            k8s.apps.v1.DaemonSet,
            n,
            metadata=kb.meta(n, NS, lbls),
            spec={
                "selector": {"match_labels": kb.selector(n)},
                "update_strategy": {"type": "RollingUpdate", "rolling_update": {"max_unavailable": "10%"}},
                "template": {
                    "metadata": {
                        "labels": lbls,
                        "annotations": {"hardening/config-hash": _short_hash(self.alloy_river)},
                    },
                    "spec": pod,
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[sa, binding, config]),
        )
        _res(
            k8s.networking.v1.NetworkPolicy,
            f"{n}-allow",
            metadata=kb.meta(f"allow-{n}", NS, lbls),
            spec=kb.network_policy_spec(
                kb.selector(n),
                # Loki's push endpoint, and the Kubernetes API server (discovery, pods/log)
                egress=[
                    ([{"pod_selector": {"match_labels": kb.selector(names.LOKI)}}], [names.LOKI_HTTP_PORT]),
                    (None, list(API_SERVER_PORTS)),
                ],
            ),
            opts=self._child,
        )


def _short_hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]
