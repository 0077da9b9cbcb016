"""SecretsVault: Vault servers on integrated Raft storage, and the declarative configuration as data.

The server HCL and the desired configuration (KV v2, Kubernetes and GitHub OIDC auth, policies, audit)
come from the builders in this folder; the configuration is rendered into a ConfigMap that
``python -m tools.vault reconcile`` applies. Initialisation and unseal keys never enter Pulumi state:
``tools/vault`` handles them (docs/SECURITY_GUIDE.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import conventions as cv
from components import k8s as kb
from components.addons import MonitoringAddOns
from components.config import Resources, Settings
from components.monitoring.specs import DashboardSpec, ScrapeTarget
from components.service import vault_agent
from components.service.spec import ServiceSpec
from components.service.workload import VaultAccess
from components.vault import alerts, declarative
from components.vault import server_config as sc
from components.vault.dashboard import TITLE as DASHBOARD_TITLE
from components.vault.dashboard import UID as DASHBOARD_UID
from components.vault.dashboard import vault_dashboard
from components.versions import image

NS = cv.NS_VAULT
NAME = "vault"
HEADLESS = "vault-internal"
DECLARATIVE_CONFIG_MAP = "vault-declarative-config"
DECLARATIVE_KEY = "vault-config.json"
AUDIT_STORAGE = "2Gi"
VAULT_RESOURCES = {"dev": Resources("100m", "256Mi", "500m", "512Mi"), "prod": Resources("250m", "512Mi", "1", "1Gi")}


@dataclass
class SecretsVaultArgs:
    settings: Settings
    services: Sequence[ServiceSpec]


def server_input(settings: Settings) -> sc.ServerConfigInput:
    v = settings.vault
    return sc.ServerConfigInput(
        environment=settings.environment,
        replicas=v.replicas,
        namespace=NS,
        name=NAME,
        headless_service=HEADLESS,
        tls=sc.TlsFiles(secret_name=v.tls_secret) if v.tls_secret else None,
    )


def vault_configuration(settings: Settings, services: Sequence[ServiceSpec]) -> declarative.VaultConfig:
    """The declarative Vault configuration of this stack (validated): one Kubernetes-auth role and policy per
    service, bound to its ServiceAccount in its namespace, and for every service repository its production,
    staging and preview CI roles."""
    repositories = sorted({s.repository.full_name for s in services})
    # The Vault Agent sidecar logs in with a projected token whose audience is "vault": its role must ask
    # the TokenReview for that audience.
    agent = {s.name for s in services if vault_agent.needs_agent(s)}
    return declarative.platform_config(
        workloads=[
            declarative.Workload(
                s.name, s.namespace, s.name, audience=vault_agent.TOKEN_AUDIENCE if s.name in agent else ""
            )
            for s in services
        ],
        ci=[declarative.CiAccess(r) for r in repositories],
        rotation_period=settings.vault.rotation_period,
    )


def vault_address(settings: Settings) -> str:
    return sc.api_address(server_input(settings))


def vault_access(settings: Settings) -> VaultAccess:
    """What a service's pods need to reach Vault: address, auth and KV mounts, TLS."""
    return VaultAccess(
        address=vault_address(settings),
        auth_mount="kubernetes",
        kv_mount="secret",
        apps_prefix=declarative.APPS_PREFIX,
        tls=bool(settings.vault.tls_secret),
        namespace=NS,
        server_label=NAME,
        port=sc.API_PORT,
    )


def monitoring_addons(settings: Settings) -> MonitoringAddOns:
    cfg = server_input(settings)
    return MonitoringAddOns(
        scrape_targets=(
            ScrapeTarget(
                "vault",
                NS,
                {cv.LABEL_NAME: NAME},
                "api",
                path=f"{sc.METRICS_PATH}?{sc.METRICS_QUERY}",
                scheme=sc.scheme(cfg),
                ca_file=cfg.tls.ca_path.replace(sc.TLS_DIR, "/etc/prometheus/vault-tls") if cfg.tls else None,
                tls_server_name=f"{NAME}.{NS}.svc" if cfg.tls else None,
            ),
        ),
        rule_groups=(alerts.rule_group(settings.monitoring.runbook_base_url),),
        dashboards=(DashboardSpec(DASHBOARD_UID, DASHBOARD_TITLE, vault_dashboard()),),
    )


class SecretsVault(pulumi.ComponentResource):
    """Vault StatefulSet (Raft), Services, PDB, RBAC for Kubernetes auth and service registration, and the
    declarative configuration ConfigMap."""

    address: pulumi.Output[str]

    def __init__(self, name: str, args: SecretsVaultArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hardening:vault:SecretsVault", name, None, opts)
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        cfg = server_input(s)
        desired = vault_configuration(s, args.services)
        lbls = kb.labels(NAME, "secrets", instance=f"{NAME}-{NS}")

        sa = k8s.core.v1.ServiceAccount(
            NAME, metadata=kb.meta(NAME, NS, lbls), automount_service_account_token=False, opts=child
        )
        # Kubernetes auth reviews the tokens apps present (TokenReview): system:auth-delegator.
        k8s.rbac.v1.ClusterRoleBinding(
            f"{NAME}-auth-delegator",
            metadata=kb.meta("hardening-vault-auth-delegator", None, lbls),
            role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"},
            subjects=[{"kind": "ServiceAccount", "name": NAME, "namespace": NS}],
            opts=child,
        )
        # Kubernetes service registration labels its own pods (vault-active, vault-sealed, ...).
        k8s.rbac.v1.Role(
            f"{NAME}-discovery",
            metadata=kb.meta(f"{NAME}-discovery", NS, lbls),
            rules=[kb.policy_rule([""], ["pods"], ["get", "update", "patch"])],
            opts=child,
        )
        k8s.rbac.v1.RoleBinding(
            f"{NAME}-discovery",
            metadata=kb.meta(f"{NAME}-discovery", NS, lbls),
            role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{NAME}-discovery"},
            subjects=[{"kind": "ServiceAccount", "name": NAME, "namespace": NS}],
            opts=child,
        )

        k8s.core.v1.ConfigMap(
            f"{NAME}-config",
            metadata=kb.meta(f"{NAME}-config", NS, lbls),
            data={sc.CONFIG_FILE: sc.render_server_hcl(cfg)},
            opts=child,
        )
        k8s.core.v1.ConfigMap(
            DECLARATIVE_CONFIG_MAP,
            metadata=kb.meta(DECLARATIVE_CONFIG_MAP, NS, lbls),
            data={DECLARATIVE_KEY: declarative.render_document(desired, fmt="json")},
            opts=child,
        )

        scheme = "HTTPS" if cfg.tls else "HTTP"
        ports = {"api": sc.API_PORT, "cluster": sc.CLUSTER_PORT}
        security = kb.restricted_security_context()
        security["capabilities"] = {"drop": ["ALL"], "add": list(sc.CONTAINER_CAPABILITIES_ADD)}
        mounts = [
            kb.mount("config", sc.CONFIG_DIR, read_only=True),
            kb.mount("data", sc.DATA_DIR),
            kb.mount("audit", sc.AUDIT_DIR),
            kb.mount("home", "/home/vault"),
        ]
        volumes = [kb.config_volume("config", f"{NAME}-config"), kb.empty_dir("home", "64Mi")]
        if cfg.tls:
            mounts.append(kb.mount("tls", sc.TLS_DIR, read_only=True))
            volumes.append(kb.secret_volume("tls", cfg.tls.secret_name))
        c = kb.container(
            NAME,
            image("vault"),
            resources=VAULT_RESOURCES["prod" if s.is_prod else "dev"],
            command=["vault"],
            args=sc.server_args(cfg),
            ports=ports,
            env=sc.server_env(cfg),
            volume_mounts=mounts,
            # ready only when unsealed (active or standby); alive even while sealed or uninitialised
            readiness=kb.http_probe(sc.READINESS_PATH, "api", scheme=scheme, period=5, failure_threshold=2),
            liveness=kb.http_probe(sc.LIVENESS_PATH, "api", scheme=scheme, period=10, initial_delay=60),
            security_context=security,
        )
        pod = kb.pod_spec(
            [c],
            service_account=NAME,
            run_as_user=sc.RUN_AS_USER,
            fs_group=sc.FS_GROUP,
            termination_grace=10,
            volumes=volumes,
            affinity=kb.spread_across_nodes(NAME) if cfg.replicas > 1 else None,
        )
        pod["security_context"]["run_as_group"] = sc.RUN_AS_GROUP
        # Not awaited: Vault is ready only after `tools.vault init/unseal`, which need it running first.
        k8s.apps.v1.StatefulSet(
            NAME,
            metadata=kb.meta(NAME, NS, lbls, kb.SKIP_AWAIT),
            spec={
                "replicas": cfg.replicas,
                "service_name": HEADLESS,
                "pod_management_policy": "Parallel",
                "update_strategy": {"type": "OnDelete"},  # upgrade one unsealed peer at a time, by hand
                "selector": {"match_labels": kb.selector(NAME)},
                "template": {"metadata": {"labels": lbls}, "spec": pod},
                "volume_claim_templates": [
                    kb.pvc_template("data", s.vault.storage, s.cluster.storage_class, lbls),
                    kb.pvc_template("audit", AUDIT_STORAGE, s.cluster.storage_class, lbls),
                ],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[sa]),
        )
        k8s.core.v1.Service(
            NAME,
            metadata=kb.meta(NAME, NS, lbls, kb.SKIP_AWAIT),
            spec={"selector": kb.selector(NAME), "ports": kb.service_ports({"api": sc.API_PORT})},
            opts=child,
        )
        k8s.core.v1.Service(
            HEADLESS,
            metadata=kb.meta(HEADLESS, NS, lbls, kb.SKIP_AWAIT),
            spec={
                "cluster_ip": "None",
                "publish_not_ready_addresses": True,
                "selector": kb.selector(NAME),
                "ports": kb.service_ports(ports),
            },
            opts=child,
        )
        if cfg.replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                NAME,
                metadata=kb.meta(NAME, NS, lbls),
                spec={"max_unavailable": 1, "selector": {"match_labels": kb.selector(NAME)}},
                opts=child,
            )
        peers = [{"pod_selector": {"match_labels": kb.selector(NAME)}}]
        k8s.networking.v1.NetworkPolicy(
            f"{NAME}-allow",
            metadata=kb.meta(f"allow-{NAME}", NS, lbls),
            spec=kb.network_policy_spec(
                kb.selector(NAME),
                # clients anywhere in the cluster reach the API; peers reach each other on both ports
                ingress=[([{"namespace_selector": {}}], [sc.API_PORT]), (peers, [sc.API_PORT, sc.CLUSTER_PORT])],
                # peers; the Kubernetes API (TokenReview, service registration)
                egress=[(peers, [sc.API_PORT, sc.CLUSTER_PORT]), (None, [443, 6443])],
            ),
            opts=child,
        )

        self.address = pulumi.Output.from_input(sc.api_address(cfg))
        self.auth = declarative.outputs(desired)
        self.register_outputs({"address": self.address, "auth": self.auth})
