"""Monitoring: Prometheus, Alertmanager, kube-state-metrics, node-exporter and Grafana as Kubernetes objects.

Everything configurable comes from the builders in this folder (scrape config, rules, Alertmanager
config, Grafana provisioning, dashboards); this module only turns their plain data into resources.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import conventions as cv
from components import k8s as kb
from components.addons import MonitoringAddOns
from components.config import Resources, Settings
from components.monitoring import alertmanager as am_builder
from components.monitoring import blackbox, names
from components.monitoring import rules as rules_builder
from components.monitoring import scrape as scrape_builder
from components.monitoring.specs import ProbeTarget
from components.versions import image

NS = cv.NS_MONITORING
# Small fixed sizes for the exporters and Grafana; Prometheus and the app are sized from stack config.
KSM_RESOURCES = Resources("50m", "96Mi", "200m", "256Mi")
NODE_EXPORTER_RESOURCES = Resources("25m", "32Mi", "200m", "96Mi")
ALERTMANAGER_RESOURCES = Resources("25m", "64Mi", "200m", "128Mi")
RELOADER_RESOURCES = Resources("10m", "16Mi", "50m", "32Mi")
GRAFANA_RESOURCES = Resources("50m", "128Mi", "500m", "384Mi")
BLACKBOX_RESOURCES = Resources("10m", "32Mi", "200m", "64Mi")


@dataclass
class MonitoringArgs:
    settings: Settings
    addons: MonitoringAddOns = field(default_factory=MonitoringAddOns)
    # Alertmanager receiver secrets present in stack config: secret key name -> secret Output.
    receiver_secrets: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    # The objectives the built-in dashboards draw as lines (the strictest of the services' Thresholds).
    error_ratio_threshold: float = cv.ERROR_RATIO_OBJECTIVE
    latency_p95_threshold_seconds: float = cv.P95_LATENCY_OBJECTIVE_SECONDS


def _labels(name: str, component: str) -> dict[str, str]:
    return kb.labels(name, component, instance=f"{name}-{NS}")


def prometheus_args(settings: Settings) -> list[str]:
    m = settings.monitoring
    return [
        f"--config.file={names.PROMETHEUS_CONFIG_DIR}/prometheus.yml",
        "--storage.tsdb.path=/prometheus",
        f"--storage.tsdb.retention.time={m.prometheus_retention}",
        f"--storage.tsdb.retention.size={m.prometheus_retention_size}",
        "--web.enable-lifecycle",
        # Reload the configuration and rules when the mounted ConfigMaps change, without a restart.
        "--enable-feature=auto-reload-config",
        "--config.auto-reload-interval=30s",
        f"--web.listen-address=:{names.PROMETHEUS_PORT}",
    ]


def with_udp(spec: dict[str, Any], ports: set[int]) -> dict[str, Any]:
    """``spec`` with a UDP entry next to every TCP entry of ``ports`` (Alertmanager gossips on both)."""
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction, []):
            extra = [
                {**p, "protocol": "UDP"} for p in rule.get("ports", []) if p["port"] in ports and p["protocol"] == "TCP"
            ]
            if extra:
                rule["ports"] = [*rule["ports"], *extra]
    return spec


def _vault_ca_volume() -> dict[str, Any]:
    """The Vault CA (a public certificate, so a ConfigMap) for the TLS scrape and probe of Vault. The operator
    copies it from the ``vault-tls`` Secret once (docs/MONITORING_GUIDE.md); optional, so Prometheus starts
    before it exists (the vault job then fails its TLS handshake and TargetDown says so)."""
    return {"name": "vault-ca", "config_map": {"name": names.VAULT_CA_CONFIGMAP, "optional": True}}


def _vault_probes(addons: MonitoringAddOns) -> tuple[ProbeTarget, ...]:
    """Vault's health endpoint, probed through its Service when the vault scrape job exists."""
    for t in addons.scrape_targets:
        if t.name == "vault":
            return (
                ProbeTarget(
                    "vault",
                    t.namespace,
                    f"{t.scheme}://vault.{t.namespace}.svc:8200{blackbox.VAULT_HEALTH_PATH}",
                    "http_vault_health",
                ),
            )
    return ()


class Monitoring(pulumi.ComponentResource):
    """Prometheus (StatefulSet, PVC, RBAC), Alertmanager (clustered when replicas > 1), kube-state-metrics,
    node-exporter and Grafana with provisioned data sources and dashboards."""

    prometheus_url: pulumi.Output[str]
    alertmanager_url: pulumi.Output[str]
    grafana_url: pulumi.Output[str]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hardening:monitoring:Monitoring", name, None, opts)
        s = args.settings
        self._child = pulumi.ResourceOptions(parent=self)
        self._thresholds = (args.error_ratio_threshold, args.latency_p95_threshold_seconds)
        self.vault_ca_file = next(
            (t.ca_file for t in args.addons.scrape_targets if t.ca_file and t.ca_file.startswith(names.VAULT_CA_DIR)),
            None,
        )
        self.probes = (*args.addons.probes, *_vault_probes(args.addons))
        self.prometheus_config = scrape_builder.prometheus_config(
            scrape_interval=s.monitoring.scrape_interval,
            evaluation_interval=s.monitoring.evaluation_interval,
            external_labels={"cluster": s.stack, "environment": s.environment},
            targets=args.addons.scrape_targets,
            probes=self.probes,
            blackbox_address=f"{names.BLACKBOX_EXPORTER}.{NS}.svc:{names.BLACKBOX_EXPORTER_PORT}",
        )
        self.rule_files = rules_builder.rule_files(
            runbook_base_url=s.monitoring.runbook_base_url,
            extra_groups=args.addons.rule_groups,  # each area's own alerts (Vault, Loki, rollouts, cost...)
            # every job gets an absent() guard unless its component already has one (LokiDown...)
            scrape_jobs=[j["job_name"] for j in self.prometheus_config["scrape_configs"]],
        )
        secret_files = [am_builder.SECRET_FILES[k] for k in sorted(args.receiver_secrets)]
        self.alertmanager_config = am_builder.alertmanager_config(secret_files=secret_files)

        self._prometheus(s)
        self._alertmanager(s, args.receiver_secrets)
        self._kube_state_metrics()
        self._node_exporter()
        self._blackbox_exporter(s.monitoring.prometheus_replicas)
        self._grafana(s, args.addons)

        self.prometheus_url = pulumi.Output.from_input(names.service_url(names.PROMETHEUS, NS, names.PROMETHEUS_PORT))
        self.alertmanager_url = pulumi.Output.from_input(
            names.service_url(names.ALERTMANAGER, NS, names.ALERTMANAGER_PORT)
        )
        self.grafana_url = pulumi.Output.from_input(names.service_url(names.GRAFANA, NS, names.GRAFANA_PORT))
        self.register_outputs(
            {
                "prometheusUrl": self.prometheus_url,
                "alertmanagerUrl": self.alertmanager_url,
                "grafanaUrl": self.grafana_url,
            }
        )

    # --- Prometheus ---------------------------------------------------------------------------------
    def _prometheus(self, s: Settings) -> None:
        n = names.PROMETHEUS
        lbls = _labels(n, "metrics")
        k8s.core.v1.ServiceAccount(
            n, metadata=kb.meta(n, NS, lbls), automount_service_account_token=False, opts=self._child
        )
        k8s.rbac.v1.ClusterRole(
            n,
            metadata=kb.meta("hardening-prometheus", None, lbls),
            rules=[
                kb.policy_rule(
                    [""], ["nodes", "nodes/metrics", "services", "endpoints", "pods"], ["get", "list", "watch"]
                ),
                kb.policy_rule(["discovery.k8s.io"], ["endpointslices"], ["get", "list", "watch"]),
                {"non_resource_urls": ["/metrics"], "verbs": ["get"]},
            ],
            opts=self._child,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            n,
            metadata=kb.meta("hardening-prometheus", None, lbls),
            role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "hardening-prometheus"},
            subjects=[{"kind": "ServiceAccount", "name": n, "namespace": NS}],
            opts=self._child,
        )
        k8s.core.v1.ConfigMap(
            f"{n}-config",
            metadata=kb.meta(f"{n}-config", NS, lbls),
            data={"prometheus.yml": scrape_builder.to_yaml(self.prometheus_config)},
            opts=self._child,
        )
        k8s.core.v1.ConfigMap(
            f"{n}-rules",
            metadata=kb.meta(f"{n}-rules", NS, lbls),
            data={fname: scrape_builder.to_yaml(content) for fname, content in self.rule_files.items()},
            opts=self._child,
        )
        port = {names.PROMETHEUS_PORT_NAME: names.PROMETHEUS_PORT}
        c = kb.container(
            n,
            image("prometheus"),
            resources=s.monitoring.prometheus_resources,
            args=prometheus_args(s),
            ports=port,
            volume_mounts=[
                kb.mount("config", names.PROMETHEUS_CONFIG_DIR, read_only=True),
                kb.mount("rules", names.PROMETHEUS_RULES_DIR, read_only=True),
                kb.mount("data", "/prometheus"),
                *([kb.mount("vault-ca", names.VAULT_CA_DIR, read_only=True)] if self.vault_ca_file else []),
            ],
            liveness=kb.http_probe("/-/healthy", names.PROMETHEUS_PORT_NAME, period=15, failure_threshold=6),
            readiness=kb.http_probe("/-/ready", names.PROMETHEUS_PORT_NAME, period=5, failure_threshold=3),
            startup=kb.http_probe("/-/ready", names.PROMETHEUS_PORT_NAME, period=10, failure_threshold=60),
        )
        replicas = s.monitoring.prometheus_replicas
        pod = kb.pod_spec(
            [c],
            service_account=n,
            termination_grace=300,
            volumes=[
                kb.config_volume("config", f"{n}-config"),
                kb.config_volume("rules", f"{n}-rules"),
                *([_vault_ca_volume()] if self.vault_ca_file else []),
            ],
            affinity=kb.spread_across_nodes(n) if replicas > 1 else None,
        )
        k8s.apps.v1.StatefulSet(
            n,
            metadata=kb.meta(n, NS, lbls),
            spec={
                "replicas": replicas,
                "service_name": f"{n}-headless",
                "pod_management_policy": "Parallel",
                "selector": {"match_labels": kb.selector(n)},
                "template": {"metadata": {"labels": lbls}, "spec": pod},  # scraped by its own job
                "volume_claim_templates": [
                    kb.pvc_template("data", s.monitoring.prometheus_storage, s.cluster.storage_class, lbls)
                ],
            },
            opts=self._child,
        )
        # ClientIP affinity: with 2 replicas, Grafana's consecutive queries (and a user's refreshes) stay on
        # one Prometheus, so panels do not flicker between two slightly different TSDBs.
        self._services(n, lbls, port, headless=True, session_affinity=True)
        self._pdb(n, lbls, replicas)
        # Prometheus scrapes every namespace, the kubelets and the API server: egress anywhere; Grafana,
        # the canary analysis (argo-rollouts) and OpenCost query it: ingress on its port from the cluster.
        self._netpol(n, lbls, ingress=[([{"namespace_selector": {}}], [names.PROMETHEUS_PORT])], egress=[(None, None)])

    # --- Alertmanager --------------------------------------------------------------------------------
    def _alertmanager(self, s: Settings, receiver_secrets: dict[str, pulumi.Input[str]]) -> None:
        n = names.ALERTMANAGER
        lbls = _labels(n, "alerting")
        replicas = s.monitoring.alertmanager_replicas
        k8s.core.v1.ConfigMap(
            f"{n}-config",
            metadata=kb.meta(f"{n}-config", NS, lbls),
            data={"alertmanager.yml": scrape_builder.to_yaml(self.alertmanager_config)},
            opts=self._child,
        )
        # Receiver URLs/keys: a Secret built from Pulumi secret config, mounted as files (never inlined).
        k8s.core.v1.Secret(
            f"{n}-receivers",
            metadata=kb.meta(f"{n}-receivers", NS, lbls),
            type="Opaque",
            string_data={am_builder.SECRET_FILES[k]: v for k, v in sorted(receiver_secrets.items())},
            opts=self._child,
        )
        cluster_args = (
            [f"--cluster.listen-address=0.0.0.0:{names.ALERTMANAGER_CLUSTER_PORT}"]
            + [
                f"--cluster.peer={n}-{i}.{n}-headless.{NS}.svc:{names.ALERTMANAGER_CLUSTER_PORT}"
                for i in range(replicas)
            ]
            if replicas > 1
            else ["--cluster.listen-address="]
        )
        ports = {names.ALERTMANAGER_PORT_NAME: names.ALERTMANAGER_PORT}
        if replicas > 1:
            ports[names.ALERTMANAGER_CLUSTER_PORT_NAME] = names.ALERTMANAGER_CLUSTER_PORT
        main = kb.container(
            n,
            image("alertmanager"),
            resources=ALERTMANAGER_RESOURCES,
            args=[
                f"--config.file={names.ALERTMANAGER_CONFIG_DIR}/alertmanager.yml",
                "--storage.path=/alertmanager",
                f"--web.listen-address=:{names.ALERTMANAGER_PORT}",
                *cluster_args,
            ],
            ports=ports,
            volume_mounts=[
                kb.mount("config", names.ALERTMANAGER_CONFIG_DIR, read_only=True),
                kb.mount("receivers", names.ALERTMANAGER_SECRETS_DIR, read_only=True),
                kb.mount("data", "/alertmanager"),
            ],
            liveness=kb.http_probe("/-/healthy", names.ALERTMANAGER_PORT_NAME),
            readiness=kb.http_probe("/-/ready", names.ALERTMANAGER_PORT_NAME, period=5),
        )
        # The config reloader triggers /-/reload when the ConfigMap or the receivers Secret change.
        reloader = kb.container(
            "config-reloader",
            image("config-reloader"),
            resources=RELOADER_RESOURCES,
            args=[
                f"--reload-url=http://127.0.0.1:{names.ALERTMANAGER_PORT}/-/reload",
                f"--watched-dir={names.ALERTMANAGER_CONFIG_DIR}",
                f"--watched-dir={names.ALERTMANAGER_SECRETS_DIR}",
                "--listen-address=:8081",
            ],
            ports={"reloader-web": 8081},
            volume_mounts=[
                kb.mount("config", names.ALERTMANAGER_CONFIG_DIR, read_only=True),
                kb.mount("receivers", names.ALERTMANAGER_SECRETS_DIR, read_only=True),
            ],
            liveness=kb.http_probe("/healthz", "reloader-web"),
            readiness=kb.http_probe("/healthz", "reloader-web"),
        )
        pod = kb.pod_spec(
            [main, reloader],
            volumes=[
                kb.config_volume("config", f"{n}-config"),
                kb.secret_volume("receivers", f"{n}-receivers"),
                kb.empty_dir("data", "1Gi"),
            ],
            affinity=kb.spread_across_nodes(n) if replicas > 1 else None,
        )
        k8s.apps.v1.StatefulSet(
            n,
            metadata=kb.meta(n, NS, lbls),
            spec={
                "replicas": replicas,
                "service_name": f"{n}-headless",
                "pod_management_policy": "Parallel",
                "selector": {"match_labels": kb.selector(n)},
                "template": {"metadata": {"labels": lbls}, "spec": pod},
            },  # scraped by its own job
            opts=self._child,
        )
        self._services(n, lbls, ports, headless=True)
        self._pdb(n, lbls, replicas)
        peers = [{"pod_selector": {"match_labels": kb.selector(n)}}]
        self._netpol(
            n,
            lbls,
            ingress=[([kb.peer_namespace(NS)], [names.ALERTMANAGER_PORT]), (peers, [names.ALERTMANAGER_CLUSTER_PORT])],
            egress=[(peers, [names.ALERTMANAGER_CLUSTER_PORT]), (None, [443])],
            udp={names.ALERTMANAGER_CLUSTER_PORT},  # memberlist gossip: TCP and UDP
        )  # receivers: HTTPS

    # --- kube-state-metrics ----------------------------------------------------------------------------
    def _kube_state_metrics(self) -> None:
        n = names.KUBE_STATE_METRICS
        lbls = _labels(n, "exporter")
        k8s.core.v1.ServiceAccount(
            n, metadata=kb.meta(n, NS, lbls), automount_service_account_token=False, opts=self._child
        )
        watched = [
            (
                [""],
                [
                    "configmaps",
                    "secrets",
                    "nodes",
                    "pods",
                    "services",
                    "serviceaccounts",
                    "resourcequotas",
                    "replicationcontrollers",
                    "limitranges",
                    "persistentvolumeclaims",
                    "persistentvolumes",
                    "namespaces",
                    "endpoints",
                ],
            ),
            (["apps"], ["statefulsets", "daemonsets", "deployments", "replicasets"]),
            (["batch"], ["cronjobs", "jobs"]),
            (["autoscaling"], ["horizontalpodautoscalers"]),
            (["policy"], ["poddisruptionbudgets"]),
            (["networking.k8s.io"], ["networkpolicies", "ingresses"]),
            (["storage.k8s.io"], ["storageclasses", "volumeattachments"]),
            (["discovery.k8s.io"], ["endpointslices"]),
            (["coordination.k8s.io"], ["leases"]),
        ]
        k8s.rbac.v1.ClusterRole(
            n,
            metadata=kb.meta("hardening-kube-state-metrics", None, lbls),
            rules=[kb.policy_rule(g, r, ["list", "watch"]) for g, r in watched],
            opts=self._child,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            n,
            metadata=kb.meta("hardening-kube-state-metrics", None, lbls),
            role_ref={
                "api_group": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "hardening-kube-state-metrics",
            },
            subjects=[{"kind": "ServiceAccount", "name": n, "namespace": NS}],
            opts=self._child,
        )
        ports = {
            names.KUBE_STATE_METRICS_PORT_NAME: names.KUBE_STATE_METRICS_PORT,
            names.KUBE_STATE_METRICS_TELEMETRY_PORT_NAME: names.KUBE_STATE_METRICS_TELEMETRY_PORT,
        }
        c = kb.container(
            n,
            image("kube-state-metrics"),
            resources=KSM_RESOURCES,
            ports=ports,
            args=[
                f"--port={names.KUBE_STATE_METRICS_PORT}",
                f"--telemetry-port={names.KUBE_STATE_METRICS_TELEMETRY_PORT}",
                # namespace labels carry team / cost-center for cost allocation and alert routing
                "--metric-labels-allowlist=namespaces=[team,cost-center],pods=[app,app.kubernetes.io/name]",
            ],
            liveness=kb.http_probe("/livez", names.KUBE_STATE_METRICS_PORT_NAME),
            readiness=kb.http_probe("/readyz", names.KUBE_STATE_METRICS_TELEMETRY_PORT_NAME),
        )
        k8s.apps.v1.Deployment(
            n,
            metadata=kb.meta(n, NS, lbls),
            spec={
                "replicas": 1,
                "selector": {"match_labels": kb.selector(n)},
                "template": {"metadata": {"labels": lbls}, "spec": kb.pod_spec([c], service_account=n)},
            },
            opts=self._child,
        )
        self._services(n, lbls, ports)
        self._netpol(n, lbls, ingress=[], egress=[(None, [443, 6443])])  # the API server

    # --- node-exporter -------------------------------------------------------------------------------
    def _node_exporter(self) -> None:
        n = names.NODE_EXPORTER
        ns = cv.NS_NODE_EXPORTER
        lbls = _labels(n, "exporter")
        # Host access is the point of node-exporter: host PID and network namespaces and read-only mounts
        # of /proc, /sys and / — nothing writable, still non-root, no capabilities, no privilege.
        c = kb.container(
            n,
            image("node-exporter"),
            resources=NODE_EXPORTER_RESOURCES,
            args=[
                "--path.procfs=/host/proc",
                "--path.sysfs=/host/sys",
                "--path.rootfs=/host/root",
                f"--web.listen-address=:{names.NODE_EXPORTER_PORT}",
                "--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|run/k3s|var/lib/docker/.+)($|/)",
            ],
            ports={names.NODE_EXPORTER_PORT_NAME: names.NODE_EXPORTER_PORT},
            volume_mounts=[
                kb.mount("proc", "/host/proc", read_only=True),
                kb.mount("sys", "/host/sys", read_only=True),
                {**kb.mount("root", "/host/root", read_only=True), "mount_propagation": "HostToContainer"},
            ],
            liveness=kb.http_probe("/", names.NODE_EXPORTER_PORT_NAME),
            readiness=kb.http_probe("/", names.NODE_EXPORTER_PORT_NAME),
        )
        pod = kb.pod_spec(
            [c],
            fs_group=None,
            volumes=[
                {"name": "proc", "host_path": {"path": "/proc", "type": "Directory"}},
                {"name": "sys", "host_path": {"path": "/sys", "type": "Directory"}},
                {"name": "root", "host_path": {"path": "/", "type": "Directory"}},
            ],
            extra={
                "host_network": True,
                "host_pid": True,
                "tolerations": [{"operator": "Exists"}],
                "priority_class_name": "system-node-critical",
            },
        )
        k8s.apps.v1.DaemonSet(
            n,
            metadata=kb.meta(n, ns, lbls),
            spec={
                "selector": {"match_labels": kb.selector(n)},
                "update_strategy": {"type": "RollingUpdate", "rolling_update": {"max_unavailable": "10%"}},
                "template": {"metadata": {"labels": lbls}, "spec": pod},
            },
            opts=self._child,
        )

    # --- blackbox exporter ---------------------------------------------------------------------------
    def _blackbox_exporter(self, replicas: int) -> None:
        """Probes every service's endpoint and Vault's health from outside their pods (first-party); as many
        replicas as Prometheus, any one answers a probe."""
        n = names.BLACKBOX_EXPORTER
        lbls = _labels(n, "exporter")
        ca_dir = names.VAULT_CA_DIR
        config = blackbox.blackbox_config(
            vault_ca_file=f"{ca_dir}/{self.vault_ca_file.rsplit('/', 1)[1]}" if self.vault_ca_file else None
        )
        k8s.core.v1.ConfigMap(
            f"{n}-config",
            metadata=kb.meta(f"{n}-config", NS, lbls),
            data={"blackbox.yml": scrape_builder.to_yaml(config)},
            opts=self._child,
        )
        port = {names.BLACKBOX_EXPORTER_PORT_NAME: names.BLACKBOX_EXPORTER_PORT}
        c = kb.container(
            n,
            image("blackbox-exporter"),
            resources=BLACKBOX_RESOURCES,
            ports=port,
            args=[
                "--config.file=/etc/blackbox/blackbox.yml",
                f"--web.listen-address=:{names.BLACKBOX_EXPORTER_PORT}",
            ],
            volume_mounts=[
                kb.mount("config", "/etc/blackbox", read_only=True),
                *([kb.mount("vault-ca", ca_dir, read_only=True)] if self.vault_ca_file else []),
            ],
            liveness=kb.http_probe("/-/healthy", names.BLACKBOX_EXPORTER_PORT_NAME),
            readiness=kb.http_probe("/-/healthy", names.BLACKBOX_EXPORTER_PORT_NAME),
        )
        digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
        k8s.apps.v1.Deployment(
            n,
            metadata=kb.meta(n, NS, lbls),
            spec={
                "replicas": replicas,
                "selector": {"match_labels": kb.selector(n)},
                "template": {
                    "metadata": {"labels": lbls, "annotations": {"hardening/config-hash": digest}},
                    "spec": kb.pod_spec(
                        [c],
                        volumes=[
                            kb.config_volume("config", f"{n}-config"),
                            *([_vault_ca_volume()] if self.vault_ca_file else []),
                        ],
                    ),
                },
            },
            opts=self._child,
        )
        self._services(n, lbls, port)
        self._pdb(n, lbls, replicas)
        prometheus = [{"pod_selector": {"match_labels": kb.selector(names.PROMETHEUS)}}]
        # Probes go to Services anywhere in the cluster; only Prometheus asks for them.
        self._netpol(
            n,
            lbls,
            ingress=[(prometheus, [names.BLACKBOX_EXPORTER_PORT])],
            egress=[([{"namespace_selector": {}}], None)],
        )

    # --- Grafana ----------------------------------------------------------------------------------
    def _grafana(self, s: Settings, addons: MonitoringAddOns) -> None:
        from components.monitoring import dashboards as dash
        from components.monitoring import grafana as gf

        n = names.GRAFANA
        lbls = _labels(n, "dashboards")
        password = random.RandomPassword(f"{n}-admin-password", length=32, special=False, opts=self._child)
        k8s.core.v1.Secret(
            f"{n}-admin",
            metadata=kb.meta(f"{n}-admin", NS, lbls),
            type="Opaque",
            string_data={names.GRAFANA_ADMIN_PASSWORD_FILE: password.result},
            opts=self._child,
        )
        dashboards = [
            *dash.builtin_dashboards(
                error_ratio_objective=self._thresholds[0],
                latency_objective_seconds=self._thresholds[1],
            ),
            *addons.dashboards,
        ]
        config = {
            "grafana.ini": gf.grafana_ini(),
            "datasources.yaml": scrape_builder.to_yaml(
                gf.datasources_file(
                    names.service_url(names.PROMETHEUS, NS, names.PROMETHEUS_PORT),
                    names.service_url(names.ALERTMANAGER, NS, names.ALERTMANAGER_PORT),
                    addons.datasources,
                    scrape_interval=s.monitoring.scrape_interval,
                )
            ),
            "provider.yaml": scrape_builder.to_yaml(gf.dashboard_provider_file()),
        }
        k8s.core.v1.ConfigMap(f"{n}-config", metadata=kb.meta(f"{n}-config", NS, lbls), data=config, opts=self._child)
        files = gf.dashboard_files(dashboards)  # "<folder>/<uid>.json" -> JSON text
        # ConfigMap keys cannot hold '/': key by file name, lay the folders out with volume items.
        k8s.core.v1.ConfigMap(
            f"{n}-dashboards",
            metadata=kb.meta(f"{n}-dashboards", NS, lbls),
            data={path.rsplit("/", 1)[1]: text for path, text in files.items()},
            opts=self._child,
        )
        port = {names.GRAFANA_PORT_NAME: names.GRAFANA_PORT}
        c = kb.container(
            n,
            image("grafana"),
            resources=GRAFANA_RESOURCES,
            ports=port,
            env=[kb.env_var("GF_PATHS_CONFIG", "/etc/grafana-config/grafana.ini")],
            volume_mounts=[
                kb.mount("config", "/etc/grafana-config", read_only=True),
                kb.mount("provisioning", names.GRAFANA_PROVISIONING_DIR, read_only=True),
                kb.mount("dashboards", names.GRAFANA_DASHBOARDS_DIR, read_only=True),
                kb.mount("admin", names.GRAFANA_SECRETS_DIR, read_only=True),
                kb.mount("data", "/var/lib/grafana"),
                kb.mount("tmp", "/tmp"),  # noqa: S108
            ],
            liveness=kb.http_probe("/api/health", names.GRAFANA_PORT_NAME, period=15),
            readiness=kb.http_probe("/api/health", names.GRAFANA_PORT_NAME, period=5),
        )
        replicas = s.monitoring.grafana_replicas
        pod = kb.pod_spec(
            [c],
            run_as_user=472,
            fs_group=472,
            volumes=[
                kb.config_volume("config", f"{n}-config", items=[("grafana.ini", "grafana.ini")]),
                kb.config_volume(
                    "provisioning",
                    f"{n}-config",
                    items=[
                        ("datasources.yaml", "datasources/datasources.yaml"),
                        ("provider.yaml", "dashboards/provider.yaml"),
                    ],
                ),
                kb.config_volume(
                    "dashboards", f"{n}-dashboards", items=[(path.rsplit("/", 1)[1], path) for path in sorted(files)]
                ),
                kb.secret_volume("admin", f"{n}-admin"),
                kb.empty_dir("data", "1Gi"),
                kb.empty_dir("tmp", "256Mi"),
            ],
            affinity=kb.spread_across_nodes(n) if replicas > 1 else None,
        )
        digest = hashlib.sha256(json.dumps([config, files], sort_keys=True).encode()).hexdigest()[:16]
        k8s.apps.v1.Deployment(
            n,
            metadata=kb.meta(n, NS, lbls),
            spec={
                "replicas": replicas,
                "selector": {"match_labels": kb.selector(n)},
                "template": {
                    "metadata": {
                        "labels": lbls,
                        "annotations": {
                            **kb.scrape_annotations(names.GRAFANA_PORT),
                            # Grafana reads provisioning at start-up: roll the pods when it changes
                            "hardening/provisioning-hash": digest,
                        },
                    },
                    "spec": pod,
                },
            },
            opts=self._child,
        )
        # Sticky sessions: each replica keeps its own SQLite on an emptyDir, and what it holds besides the
        # provisioned (file-based, identical) dashboards and data sources is the login session. ClientIP
        # affinity keeps a user on the replica that knows their session (MONITORING_GUIDE.md, "Grafana").
        self._services(n, lbls, port, session_affinity=True)
        self._pdb(n, lbls, replicas)
        self._netpol(
            n, lbls, ingress=[(None, [names.GRAFANA_PORT])], egress=[([{"namespace_selector": {}}], None)]
        )  # its data sources, in-cluster only
        self.dashboards = dashboards

    # --- shared bits --------------------------------------------------------------------------------
    def _services(
        self,
        n: str,
        lbls: dict[str, str],
        ports: dict[str, int],
        headless: bool = False,
        session_affinity: bool = False,
    ) -> None:
        spec: dict[str, Any] = {"selector": kb.selector(n), "ports": kb.service_ports(ports)}
        if session_affinity:
            spec["session_affinity"] = "ClientIP"
        k8s.core.v1.Service(
            n,
            metadata=kb.meta(n, NS if n != names.NODE_EXPORTER else cv.NS_NODE_EXPORTER, lbls),
            spec=spec,
            opts=self._child,
        )
        if headless:
            k8s.core.v1.Service(
                f"{n}-headless",
                metadata=kb.meta(f"{n}-headless", NS, lbls),
                spec={
                    "cluster_ip": "None",
                    "selector": kb.selector(n),
                    "publish_not_ready_addresses": True,
                    "ports": kb.service_ports(ports),
                },
                opts=self._child,
            )

    def _pdb(self, n: str, lbls: dict[str, str], replicas: int) -> None:
        if replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                n,
                metadata=kb.meta(n, NS, lbls),
                spec={"max_unavailable": 1, "selector": {"match_labels": kb.selector(n)}},
                opts=self._child,
            )

    def _netpol(
        self, n: str, lbls: dict[str, str], *, ingress: list[Any], egress: list[Any], udp: set[int] | None = None
    ) -> None:
        k8s.networking.v1.NetworkPolicy(
            f"{n}-allow",
            metadata=kb.meta(f"allow-{n}", NS, lbls),
            spec=with_udp(kb.network_policy_spec(kb.selector(n), ingress=ingress, egress=egress), udp or set()),
            opts=self._child,
        )
