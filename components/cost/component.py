"""CostVisibility: OpenCost (API + UI) with read-only cluster RBAC and the stack's own unit prices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import conventions as cv
from components import k8s as kb
from components.config import Resources, Settings
from components.cost import opencost as oc
from components.monitoring import names
from components.versions import image

NS = cv.NS_COST
OPENCOST_RESOURCES = Resources("50m", "128Mi", "500m", "512Mi")
UI_RESOURCES = Resources("10m", "32Mi", "100m", "64Mi")
COPY_RESOURCES = Resources("10m", "16Mi", "100m", "64Mi")


@dataclass
class CostVisibilityArgs:
    settings: Settings
    prometheus_url: str = names.service_url(names.PROMETHEUS, cv.NS_MONITORING, names.PROMETHEUS_PORT)


def _labels(component: str) -> dict[str, str]:
    return kb.labels(oc.NAME, component, instance=f"{oc.NAME}-{NS}")


def opencost_pod_spec(settings: Settings, prometheus_url: str) -> dict[str, Any]:
    """The pod: OpenCost's API/exporter and its UI (nginx), both non-root with read-only root filesystems.

    The UI's entrypoint rewrites its JavaScript bundle in place, so an init container copies the bundle
    from the image to an emptyDir mounted over /var/www; the API writes its pricing file to CONFIG_PATH.
    """
    env = oc.opencost_env(prometheus_url=prometheus_url, cluster_id=f"{settings.project}-{settings.stack}")
    api = kb.container(
        oc.NAME,
        image("opencost"),
        resources=OPENCOST_RESOURCES,
        ports={oc.API_PORT_NAME: oc.API_PORT},
        env=[kb.env_var(k, v) for k, v in env.items()],
        volume_mounts=[
            kb.mount("custom-config", oc.CONFIG_PATH),
            kb.mount("tmp", "/tmp"),  # noqa: S108
            kb.mount("var-configs", "/var/configs"),
        ],
        startup=kb.http_probe("/healthz", oc.API_PORT_NAME, period=5, failure_threshold=30),
        liveness=kb.http_probe("/healthz", oc.API_PORT_NAME, period=20),
        readiness=kb.http_probe("/healthz", oc.API_PORT_NAME, period=10),
    )
    copy = kb.container(
        "ui-assets",
        image("opencost-ui"),
        resources=COPY_RESOURCES,
        command=["sh", "-c", "cp -R /var/www/. /www/"],
        volume_mounts=[kb.mount("ui-www", "/www")],
    )
    ui = kb.container(
        oc.UI_NAME,
        image("opencost-ui"),
        resources=UI_RESOURCES,
        ports={oc.UI_PORT_NAME: oc.UI_PORT},
        env=[
            kb.env_var("API_PORT", str(oc.API_PORT)),
            kb.env_var("UI_PORT", str(oc.UI_PORT)),
            kb.env_var("NGINX_ENTRYPOINT_QUIET_LOGS", "1"),
        ],
        volume_mounts=[
            kb.mount("ui-www", "/var/www"),
            kb.mount("tmp", "/tmp"),  # noqa: S108
            kb.mount("ui-nginx", "/etc/nginx/conf.d/default.nginx.conf", read_only=True, sub_path="default.nginx.conf"),
        ],
        liveness=kb.http_probe("/healthz", oc.UI_PORT_NAME, period=10),
        readiness=kb.http_probe("/healthz", oc.UI_PORT_NAME, period=10),
    )
    return kb.pod_spec(
        [api, ui],
        service_account=oc.NAME,
        run_as_user=oc.UID,
        fs_group=oc.UID,
        init_containers=[copy],
        volumes=[
            kb.empty_dir("custom-config", "16Mi"),
            kb.empty_dir("var-configs", "16Mi"),
            kb.empty_dir("tmp", "128Mi"),
            kb.empty_dir("ui-www", "128Mi"),
            kb.config_volume("ui-nginx", oc.UI_NGINX_CONFIGMAP),
        ],
    )


class CostVisibility(pulumi.ComponentResource):
    """OpenCost in the ``opencost`` namespace: custom pricing from stack config, read-only RBAC, a Service
    for its API (9003, scraped by Prometheus) and UI (9090), and the NetworkPolicies it needs."""

    api_url: pulumi.Output[str]
    ui_url: pulumi.Output[str]
    cost_model: pulumi.Output[dict[str, Any]]

    def __init__(self, name: str, args: CostVisibilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hardening:cost:CostVisibility", name, None, opts)
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        n = oc.NAME
        lbls = _labels("cost")
        k8s.core.v1.ServiceAccount(n, metadata=kb.meta(n, NS, lbls), automount_service_account_token=False, opts=child)
        role = f"hardening-{n}"
        k8s.rbac.v1.ClusterRole(
            n,
            metadata=kb.meta(role, None, lbls),
            rules=[kb.policy_rule(list(g), list(r), list(v)) for g, r, v in oc.CLUSTER_ROLE_RULES],
            opts=child,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            n,
            metadata=kb.meta(role, None, lbls),
            role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            subjects=[{"kind": "ServiceAccount", "name": n, "namespace": NS}],
            opts=child,
        )
        pricing = k8s.core.v1.ConfigMap(
            f"{n}-pricing",
            metadata=kb.meta(oc.PRICING_CONFIGMAP, NS, lbls, oc.pricing_annotations(s.cost)),
            data=oc.pricing_config(s.cost),
            opts=child,
        )
        nginx = k8s.core.v1.ConfigMap(
            f"{n}-ui-nginx",
            metadata=kb.meta(oc.UI_NGINX_CONFIGMAP, NS, lbls),
            data={"default.nginx.conf": oc.ui_nginx_conf()},
            opts=child,
        )
        k8s.apps.v1.Deployment(
            n,
            metadata=kb.meta(n, NS, lbls),
            spec={
                "replicas": 1,
                "selector": {"match_labels": kb.selector(n)},
                # one writer of OpenCost's state at a time
                "strategy": {"type": "Recreate"},
                "template": {"metadata": {"labels": lbls}, "spec": opencost_pod_spec(s, args.prometheus_url)},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[pricing, nginx]),
        )
        # One replica by design: two would export every cost series twice (the dashboards would double).
        k8s.policy.v1.PodDisruptionBudget(
            n,
            metadata=kb.meta(n, NS, lbls),
            spec={"max_unavailable": 1, "selector": {"match_labels": kb.selector(n)}},
            opts=child,
        )
        ports = {oc.API_PORT_NAME: oc.API_PORT, oc.UI_PORT_NAME: oc.UI_PORT}
        k8s.core.v1.Service(
            n,
            metadata=kb.meta(n, NS, lbls),
            spec={"selector": kb.selector(n), "ports": kb.service_ports(ports)},
            opts=child,
        )
        # OpenCost reads the API server and queries Prometheus; Grafana may read its API. The namespace's
        # default-deny already lets Prometheus scrape in and DNS out.
        k8s.networking.v1.NetworkPolicy(
            f"{n}-allow",
            metadata=kb.meta(f"allow-{n}", NS, lbls),
            spec=kb.network_policy_spec(
                kb.selector(n),
                ingress=[
                    ([kb.peer_namespace(cv.NS_MONITORING, {cv.LABEL_NAME: names.GRAFANA})], [oc.API_PORT, oc.UI_PORT])
                ],
                egress=[
                    ([kb.peer_namespace(cv.NS_MONITORING, {cv.LABEL_NAME: names.PROMETHEUS})], [names.PROMETHEUS_PORT]),
                    (None, [443, 6443]),
                ],
            ),  # the API server
            opts=child,
        )
        self.api_url = pulumi.Output.from_input(names.service_url(n, NS, oc.API_PORT))
        self.ui_url = pulumi.Output.from_input(names.service_url(n, NS, oc.UI_PORT))
        self.cost_model = pulumi.Output.from_input(oc.cost_model(s.cost))
        self.register_outputs({"apiUrl": self.api_url, "uiUrl": self.ui_url, "costModel": self.cost_model})
