"""The app's pod template and the objects around the Rollout, as plain data (snake_case, as the typed
``pulumi_kubernetes`` resources take them; ``specs.camel`` turns the pod template into API form).

The pod runs the image of ``appImage`` as its numeric non-root user with a read-only root filesystem,
all capabilities dropped and RuntimeDefault seccomp, probes on ``/healthz`` and ``/readyz``, scrape
annotations for ``/metrics``, and logs in to Vault with its own ServiceAccount (Kubernetes auth role =
the app name, bound to that ServiceAccount in the app namespace).
"""

from __future__ import annotations

from typing import Any

from components import conventions as cv
from components import k8s as kb
from components.canary import specs
from components.config import Settings
from components.monitoring import names as mon
from components.vault import declarative
from components.vault import server_config as vault_server
from components.vault.component import vault_address, vault_configuration

Obj = dict[str, Any]


def app_labels(settings: Settings) -> dict[str, str]:
    """Pod labels: the recommended ones (component=app, what the delivery policy looks for) plus the
    short ``app`` label the scrape config copies to every series (SLI rules aggregate on it)."""
    name = settings.app.name
    return kb.labels(name, "app", instance=f"{name}-{settings.namespaces.app}", extra={cv.LABEL_APP: name})


def image_tag(image: str) -> str:
    """The tag of an image reference (``repo:tag[@digest]``), used as APP_VERSION."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "unknown"


def vault_env(settings: Settings) -> list[Obj]:
    """The Vault variables app/orders_api/settings.py reads (never a secret: the pod logs in with its
    ServiceAccount token)."""
    cfg = vault_configuration(settings)
    auth = declarative.outputs(cfg)
    name = settings.app.name
    env = [
        kb.env_var("VAULT_ADDR", vault_address(settings)),
        kb.env_var("VAULT_AUTH_METHOD", "kubernetes"),
        kb.env_var("VAULT_AUTH_MOUNT", str(auth["kubernetes_auth_path"])),
        kb.env_var("VAULT_ROLE", name),
        kb.env_var("VAULT_KV_MOUNT", str(auth["kv_mount"])),
        kb.env_var("VAULT_SECRET_PATH", f"{declarative.APPS_PREFIX}/{name}"),
    ]
    if settings.vault.tls_secret:
        env.append(kb.env_var("VAULT_CACERT", f"{specs.VAULT_CA_DIR}/ca.crt"))
    return env


def app_env(settings: Settings) -> list[Obj]:
    tag = image_tag(settings.app.image)
    return [
        kb.env_var("APP_PORT", str(specs.APP_PORT)),
        kb.env_var("APP_LOG_LEVEL", "info"),
        kb.env_var("APP_VERSION", tag[:64] if tag else "unknown"),
        kb.env_var("APP_SHUTDOWN_TIMEOUT_SECONDS", str(specs.APP_SHUTDOWN_TIMEOUT_SECONDS)),
        *vault_env(settings),
    ]


def pod_template(settings: Settings) -> Obj:
    """The Rollout's pod template (snake_case)."""
    name = settings.app.name
    mounts = [kb.mount("tmp", "/tmp")]  # noqa: S108 - the image's HOME/TMPDIR on an emptyDir
    volumes = [kb.empty_dir("tmp", "64Mi")]
    if settings.vault.tls_secret:
        mounts.append(kb.mount("vault-ca", specs.VAULT_CA_DIR, read_only=True))
        volumes.append(kb.config_volume("vault-ca", specs.VAULT_CA_CONFIG_MAP, items=[("ca.crt", "ca.crt")]))
    container = kb.container(
        name,
        settings.app.image,
        resources=settings.app.resources,
        ports={specs.APP_PORT_NAME: specs.APP_PORT},
        env=app_env(settings),
        volume_mounts=mounts,
        liveness=kb.http_probe("/healthz", specs.APP_PORT_NAME, period=10, failure_threshold=3),
        readiness=kb.http_probe("/readyz", specs.APP_PORT_NAME, period=5, failure_threshold=2),
        startup=kb.http_probe("/healthz", specs.APP_PORT_NAME, period=2, failure_threshold=30),
    )
    spec = kb.pod_spec(
        [container],
        service_account=name,
        volumes=volumes,
        run_as_user=specs.APP_RUN_AS_USER,
        fs_group=specs.APP_RUN_AS_USER,
        termination_grace=specs.APP_TERMINATION_GRACE_SECONDS,
        affinity=kb.spread_across_nodes(name) if settings.app.replicas > 1 else None,
    )
    return {
        "metadata": {"labels": app_labels(settings), "annotations": kb.scrape_annotations(specs.APP_PORT)},
        "spec": spec,
    }


def service_spec(settings: Settings) -> Obj:
    """Stable, canary, active and preview Services all select the app's pods; Argo Rollouts adds the
    ``rollouts-pod-template-hash`` of the right ReplicaSet to each selector."""
    return {
        "selector": kb.selector(settings.app.name),
        "ports": [{"name": specs.APP_PORT_NAME, "port": 80, "target_port": specs.APP_PORT_NAME, "protocol": "TCP"}],
    }


def ingress_spec(settings: Settings, service: str) -> Obj:
    """NGINX Ingress to the stable Service; Argo Rollouts creates the canary Ingress next to it."""
    return {
        "ingress_class_name": specs.INGRESS_CLASS,
        "rules": [
            {
                "host": settings.app.ingress_host,
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "path_type": "Prefix",
                            "backend": {"service": {"name": service, "port": {"name": specs.APP_PORT_NAME}}},
                        }
                    ]
                },
            }
        ],
    }


def pdb_spec(settings: Settings) -> Obj:
    return {"max_unavailable": 1, "selector": {"match_labels": kb.selector(settings.app.name)}}


def hpa_spec(settings: Settings) -> Obj:
    """HorizontalPodAutoscaler on the Rollout's scale subresource (CPU utilisation of requests)."""
    return {
        "scale_target_ref": {"api_version": specs.API_VERSION, "kind": "Rollout", "name": settings.app.name},
        "min_replicas": settings.app.replicas,
        "max_replicas": settings.app.max_replicas,
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "average_utilization": 70}},
            }
        ],
        "behavior": {"scale_down": {"stabilization_window_seconds": 300}},
    }


def app_network_policy_spec(settings: Settings) -> Obj:
    """App pods: HTTP in from the NGINX ingress controller and from the app namespace; out to Vault."""
    ingress_peers = [kb.peer_namespace(specs.INGRESS_NGINX_NAMESPACE), kb.peer_namespace(settings.namespaces.app)]
    vault = [kb.peer_namespace(cv.NS_VAULT, {cv.LABEL_NAME: vault_server.ServerConfigInput().name})]
    return kb.network_policy_spec(
        kb.selector(settings.app.name),
        ingress=[(ingress_peers, [specs.APP_PORT])],
        egress=[(vault, [vault_server.API_PORT])],
    )


def controller_network_policy_spec() -> Obj:
    """Controller: out to the Kubernetes API and to Prometheus (analysis queries). Scrapes come in
    through the namespace's allow-prometheus policy."""
    prometheus = [kb.peer_namespace(cv.NS_MONITORING, {cv.LABEL_NAME: mon.PROMETHEUS})]
    return kb.network_policy_spec(
        kb.selector(specs.CONTROLLER), egress=[(None, [443, 6443]), (prometheus, [mon.PROMETHEUS_PORT])]
    )
