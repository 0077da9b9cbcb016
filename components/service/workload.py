"""One service's pod template and the objects around its Rollout, as plain data (snake_case, as the typed
``pulumi_kubernetes`` resources take them; ``components.k8s.camel`` turns the pod template into API form
for the Rollout custom resource).

Secure by default, whatever the service says: numeric non-root user, read-only root filesystem, all
capabilities dropped, RuntimeDefault seccomp, requests and limits, an emptyDir at /tmp, the scrape annotations
of its metrics endpoint, its probes, and no ServiceAccount token unless its secrets come through its own Vault
client (``secrets.delivery: native``); with the Vault Agent sidecar only the sidecar sees a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components import conventions as cv
from components import k8s as kb
from components.monitoring.names import BLACKBOX_EXPORTER
from components.service.spec import ServiceSpec

Obj = dict[str, Any]

INGRESS_CLASS = "nginx"
INGRESS_NGINX_NAMESPACE = "ingress-nginx"
VAULT_CA_CONFIG_MAP = "vault-ca"  # key ca.crt: the CA of Vault's listener, in each service namespace (prod)
VAULT_CA_DIR = "/etc/vault-ca"
TERMINATION_GRACE_SECONDS = 30
VERSION_ENV = "APP_VERSION"


@dataclass(frozen=True)
class VaultAccess:
    """What a service's pods need to reach Vault (from the SecretsVault component's settings)."""

    address: str
    auth_mount: str = "kubernetes"
    kv_mount: str = "secret"
    apps_prefix: str = "apps"
    tls: bool = False
    namespace: str = cv.NS_VAULT
    server_label: str = "vault"  # app.kubernetes.io/name of the Vault pods
    port: int = 8200

    @property
    def ca_file(self) -> str:
        return f"{VAULT_CA_DIR}/ca.crt" if self.tls else ""


def service_labels(spec: ServiceSpec) -> dict[str, str]:
    """Pod labels: the recommended ones (component=app, what the delivery policy looks for), the team labels
    OpenCost allocates by, and the short ``app`` label the scrape config copies to every series."""
    return kb.labels(
        spec.name,
        "app",
        instance=f"{spec.name}-{spec.namespace}",
        extra={cv.LABEL_APP: spec.name, cv.LABEL_TEAM: spec.team, cv.LABEL_COST_CENTER: spec.cost_center},
    )


def object_labels(spec: ServiceSpec) -> dict[str, str]:
    """Labels of the objects around the pods (Services, PDB, HPA): no ``app`` label, so no selector matches them."""
    return {k: v for k, v in service_labels(spec).items() if k != cv.LABEL_APP}


def image_tag(image: str) -> str:
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "unknown"


def native_vault_env(spec: ServiceSpec, vault: VaultAccess) -> list[Obj]:
    """The Vault variables a service with its own client reads (app/orders_api/settings.py reads these):
    never a secret, the pod logs in with its ServiceAccount token."""
    path = f"{vault.apps_prefix}/{spec.name}"
    if spec.secrets:
        path = f"{path}/{spec.secrets[0].name}"
    env = [
        kb.env_var("VAULT_ADDR", vault.address),
        kb.env_var("VAULT_AUTH_METHOD", "kubernetes"),
        kb.env_var("VAULT_AUTH_MOUNT", vault.auth_mount),
        kb.env_var("VAULT_ROLE", spec.name),
        kb.env_var("VAULT_KV_MOUNT", vault.kv_mount),
        kb.env_var("VAULT_SECRET_PATH", path),
    ]
    if vault.tls:
        env.append(kb.env_var("VAULT_CACERT", vault.ca_file))
    return env


def plain_env(spec: ServiceSpec) -> list[Obj]:
    """The Score variables without secret placeholders, and the image tag as APP_VERSION. Score's ``$${`` is a
    literal ``${``; every ``$`` is then doubled, because Kubernetes expands ``$(VAR)`` in env values and turns
    ``$$`` back into ``$``: the process sees the Score value verbatim."""
    env = [
        kb.env_var(name, value.replace("$${", "${").replace("$", "$$"))
        for name, value in sorted(spec.container.variables.items())
        if "${resources." not in value.replace("$${", "")
    ]
    if VERSION_ENV not in spec.container.variables:
        env.append(kb.env_var(VERSION_ENV, image_tag(spec.image)[:64]))
    return env


def _probe(probe: Any, *, period: int, failure_threshold: int) -> Obj | None:
    if probe is None:
        return None
    return kb.http_probe(probe.path, probe.port, period=period, failure_threshold=failure_threshold)


def pod_template(
    spec: ServiceSpec,
    vault: VaultAccess,
    *,
    sidecars: list[Obj] | None = None,
    extra_volumes: list[Obj] | None = None,
    extra_mounts: list[Obj] | None = None,
    extra_env: list[Obj] | None = None,
) -> Obj:
    """The Rollout's pod template (snake_case). ``sidecars``/``extra_*`` carry the Vault Agent's parts."""
    c = spec.container
    native = spec.secrets_delivery.mode == "native" and bool(spec.secrets)
    mounts = [kb.mount("tmp", "/tmp"), *(extra_mounts or [])]  # noqa: S108 - HOME/TMPDIR on an emptyDir
    volumes = [kb.empty_dir("tmp", "64Mi"), *(extra_volumes or [])]
    env = plain_env(spec) + (native_vault_env(spec, vault) if native else []) + list(extra_env or [])
    if native and vault.tls:
        mounts.append(kb.mount("vault-ca", VAULT_CA_DIR, read_only=True))
        volumes.append(kb.config_volume("vault-ca", VAULT_CA_CONFIG_MAP, items=[("ca.crt", "ca.crt")]))
    ports = {p.name: p.target_port for p in spec.ports}
    if spec.metrics.port not in ports.values():
        ports["metrics"] = spec.metrics.port
    startup = None
    if c.liveness is not None or c.readiness is not None:
        first = c.liveness or c.readiness
        startup = kb.http_probe(first.path, first.port, period=2, failure_threshold=30)  # type: ignore[union-attr]
    container = kb.container(
        spec.name,
        spec.image,
        resources=c.resources,
        command=list(c.command) or None,
        args=list(c.args) or None,
        ports=ports,
        env=env,
        volume_mounts=mounts,
        liveness=_probe(c.liveness, period=10, failure_threshold=3),
        readiness=_probe(c.readiness, period=5, failure_threshold=2),
        startup=startup,
    )
    pod = kb.pod_spec(
        [container],
        service_account=spec.name,
        volumes=volumes,
        run_as_user=spec.run_as_user,
        fs_group=spec.run_as_user,
        termination_grace=TERMINATION_GRACE_SECONDS,
        init_containers=sidecars or None,
        affinity=kb.spread_across_nodes(spec.name) if spec.replicas > 1 else None,
    )
    # The ServiceAccount token is mounted only where the service's own Vault client needs it.
    pod["automount_service_account_token"] = native
    return {
        "metadata": {
            "labels": service_labels(spec),
            "annotations": kb.scrape_annotations(spec.metrics.port, spec.metrics.path),
        },
        "spec": pod,
    }


def service_spec(spec: ServiceSpec) -> Obj:
    """Stable, canary, active and preview Services all select the service's pods; Argo Rollouts adds the
    ``rollouts-pod-template-hash`` of the right ReplicaSet to each selector."""
    return {
        "selector": kb.selector(spec.name),
        "ports": [{"name": p.name, "port": p.port, "target_port": p.name, "protocol": "TCP"} for p in spec.ports],
    }


def ingress_spec(spec: ServiceSpec, service: str) -> Obj:
    """NGINX Ingress to the stable Service; Argo Rollouts creates the canary Ingress next to it."""
    return {
        "ingress_class_name": INGRESS_CLASS,
        "rules": [
            {
                "host": spec.host,
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "path_type": "Prefix",
                            "backend": {"service": {"name": service, "port": {"name": spec.http_port.name}}},
                        }
                    ]
                },
            }
        ],
    }


def pdb_spec(spec: ServiceSpec) -> Obj:
    return {"max_unavailable": 1, "selector": {"match_labels": kb.selector(spec.name)}}


def hpa_spec(spec: ServiceSpec, api_version: str) -> Obj:
    """HorizontalPodAutoscaler on the Rollout's scale subresource (CPU utilisation of requests)."""
    return {
        "scale_target_ref": {"api_version": api_version, "kind": "Rollout", "name": spec.name},
        "min_replicas": spec.replicas,
        "max_replicas": spec.max_replicas,
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "average_utilization": 70}},
            }
        ],
        "behavior": {"scale_down": {"stabilization_window_seconds": 300}},
    }


def network_policy_spec(spec: ServiceSpec, vault: VaultAccess) -> Obj:
    """Service pods: HTTP in from the NGINX ingress controller, from the service's namespace and from the blackbox
    exporter that probes it from outside the pod; out to Vault."""
    peers = [
        kb.peer_namespace(INGRESS_NGINX_NAMESPACE),
        kb.peer_namespace(spec.namespace),
        kb.peer_namespace(cv.NS_MONITORING, {cv.LABEL_NAME: BLACKBOX_EXPORTER}),
    ]
    to_vault = [kb.peer_namespace(vault.namespace, {cv.LABEL_NAME: vault.server_label})]
    return kb.network_policy_spec(
        kb.selector(spec.name),
        ingress=[(peers, sorted({p.target_port for p in spec.ports}))],
        egress=[(to_vault, [vault.port])] if spec.secrets else [],
    )
