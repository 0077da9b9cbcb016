"""The Vault server configuration (HCL) and the pod-level facts that go with it, as plain data.

``render_server_hcl(ServerConfigInput(...))`` returns the text the SecretsVault component puts in a
ConfigMap mounted at ``/vault/config``. It follows the upstream Helm chart's HA Raft layout:

- ``storage "raft"`` on the StatefulSet's volume, ``performance_multiplier = 1`` (Raft's production timing,
  as Vault recommends: the unset default, 5, made ``init`` take 5.5-9.7 s instead of 1.2-1.8 s on the
  rendered dev configuration; docs/SECURITY_GUIDE.md), with one ``retry_join`` per peer
  ``<name>-<i>.<headless>.<namespace>.svc`` (TLS-verified against the listener's CA when TLS is on);
  the node id, API and cluster addresses come from the environment (``server_env``), per pod;
- ``listener "tcp"`` with TLS from a ``kubernetes.io/tls`` Secret mounted at ``/vault/tls``
  (refused without TLS in prod), unauthenticated ``/v1/sys/metrics`` for Prometheus;
- ``service_registration "kubernetes"`` (labels pods ``vault-active``/``vault-sealed``...);
- ``telemetry`` for Prometheus (``prometheus_retention_time``, ``disable_hostname``), ``ui = true``;
- optionally ``audit "file"`` stanzas (OpenBao's declarative audit devices; HashiCorp Vault enables
  audit devices through the API, which ``python -m tools.vault reconcile`` does).

Dev mode (``vault server -dev``: in memory, unsealed, root token printed) is refused everywhere;
``ServerConfigError`` names the field and what is accepted. ``check_server_hcl`` finds the same problems
in rendered text, for the policy pack.

Vault 2.x ships its binary with the ``cap_ipc_lock`` file capability: the container must add
``IPC_LOCK`` (``CONTAINER_CAPABILITIES_ADD``) on top of dropping ALL, or the kernel refuses to run it.
Memory locking itself stays off (``disable_mlock = true``), as HashiCorp recommends with Raft.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from components import conventions as cv

ENVIRONMENTS = ("dev", "staging", "prod")
API_PORT = 8200
CLUSTER_PORT = 8201
CONFIG_DIR = "/vault/config"
CONFIG_FILE = "vault.hcl"
DATA_DIR = "/vault/data"
AUDIT_DIR = "/vault/audit"
TLS_DIR = "/vault/tls"
# Vault 2.x: the binary carries cap_ipc_lock=ep; without IPC_LOCK in the bounding set exec fails (EPERM).
CONTAINER_CAPABILITIES_ADD: tuple[str, ...] = ("IPC_LOCK",)
# The image's user (uid 100 "vault", gid 1000), as in the upstream chart.
RUN_AS_USER = 100
RUN_AS_GROUP = 1000
FS_GROUP = 1000

# Health endpoints (GET /v1/sys/health answers 200 active, 429 standby, 472/473 DR/perf standby,
# 501 not initialised, 503 sealed). Readiness must fail while sealed or uninitialised; liveness must
# tolerate sealed, uninitialised and standby nodes (an operator still has to unseal them).
READINESS_PATH = "/v1/sys/health?standbyok=true&perfstandbyok=true"
LIVENESS_PATH = "/v1/sys/health?standbyok=true&perfstandbyok=true&sealedcode=204&uninitcode=204"
METRICS_PATH = "/v1/sys/metrics"
METRICS_QUERY = "format=prometheus"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DURATION = re.compile(r"^\d+(s|m|h)$")
_LOG_LEVELS = ("trace", "debug", "info", "warn", "error")


class ServerConfigError(ValueError):
    """Invalid server configuration input: the message names the field and what is accepted."""


@dataclass(frozen=True)
class TlsFiles:
    """Listener TLS from a ``kubernetes.io/tls`` Secret (keys ``tls.crt``, ``tls.key``, ``ca.crt``)."""

    secret_name: str
    mount_dir: str = TLS_DIR
    cert_file: str = "tls.crt"
    key_file: str = "tls.key"
    ca_file: str = "ca.crt"

    @property
    def cert_path(self) -> str:
        return f"{self.mount_dir}/{self.cert_file}"

    @property
    def key_path(self) -> str:
        return f"{self.mount_dir}/{self.key_file}"

    @property
    def ca_path(self) -> str:
        return f"{self.mount_dir}/{self.ca_file}"


@dataclass(frozen=True)
class AuditFileStanza:
    """A declarative ``audit "file" "<path>"`` stanza (OpenBao); options as in the API."""

    path: str = "file"
    file_path: str = f"{AUDIT_DIR}/audit.log"
    description: str = "File audit log"
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ServerConfigInput:
    environment: str = "dev"
    replicas: int = 1
    namespace: str = cv.NS_VAULT
    name: str = "vault"  # StatefulSet (pods <name>-0..N-1) and client Service name
    headless_service: str = "vault-internal"
    tls: TlsFiles | None = None
    # What a test adapts: where to listen and where the data lives.
    listen_address: str = "[::]"
    port: int = API_PORT
    cluster_port: int = CLUSTER_PORT
    data_path: str = DATA_DIR
    audit_dir: str = AUDIT_DIR
    kubernetes_service_registration: bool = True
    prometheus_retention_time: str = "24h"
    ui: bool = True
    log_level: str = "info"
    log_format: str = "json"  # one JSON object per line: Alloy/Loki parse it without a regex
    cluster_name: str = "hardening-vault"
    # Raft timing: 1 is Vault's production setting (elections and leadership within ~1 s); the default, 5,
    # is for slow development machines and makes init and leader election five times slower.
    raft_performance_multiplier: int = 1
    audit_devices: tuple[AuditFileStanza, ...] = ()
    dev_mode: bool = False  # present only to be refused with a clear message
    extra_retry_join: Sequence[str] = field(default_factory=tuple)


def _check_mode(cfg: ServerConfigInput) -> None:
    if cfg.dev_mode:
        raise ServerConfigError(
            "dev_mode: true is refused; accepted: false. Dev mode keeps every secret "
            "in memory, starts unsealed and prints the root token"
        )
    if cfg.environment not in ENVIRONMENTS:
        raise ServerConfigError(f"environment: {cfg.environment!r}; accepted: {', '.join(ENVIRONMENTS)}")
    if cfg.environment == "prod" and cfg.tls is None:
        raise ServerConfigError(
            "tls: none in prod; accepted: TlsFiles(secret_name=<a kubernetes.io/tls "
            "Secret>). A TLS-disabled listener sends tokens and secrets in clear text"
        )


def _check_cluster(cfg: ServerConfigInput) -> None:
    if not isinstance(cfg.replicas, int) or not 1 <= cfg.replicas <= 7:
        raise ServerConfigError(f"replicas: {cfg.replicas!r}; accepted: an integer from 1 to 7")
    if cfg.replicas > 1 and cfg.replicas % 2 == 0:
        raise ServerConfigError(f"replicas: {cfg.replicas}; accepted: an odd number (Raft needs a majority)")
    for key in ("namespace", "name", "headless_service"):
        if not _DNS_LABEL.match(getattr(cfg, key)):
            raise ServerConfigError(f"{key}: {getattr(cfg, key)!r}; accepted: a DNS-1123 label")
    if cfg.tls is not None and not _DNS_LABEL.match(cfg.tls.secret_name):
        raise ServerConfigError(f"tls.secret_name: {cfg.tls.secret_name!r}; accepted: a DNS-1123 Secret name")
    for key in ("port", "cluster_port"):
        value = getattr(cfg, key)
        if not isinstance(value, int) or not 1 <= value <= 65535:
            raise ServerConfigError(f"{key}: {value!r}; accepted: a TCP port 1-65535")
    if cfg.port == cfg.cluster_port:
        raise ServerConfigError("cluster_port: equals port; accepted: two different ports")


def _check_logs(cfg: ServerConfigInput) -> None:
    if not _DURATION.match(cfg.prometheus_retention_time):
        raise ServerConfigError(
            f"prometheus_retention_time: {cfg.prometheus_retention_time!r}; accepted: a duration such as 24h or 30m"
        )
    if cfg.log_level not in _LOG_LEVELS:
        raise ServerConfigError(f"log_level: {cfg.log_level!r}; accepted: {', '.join(_LOG_LEVELS)}")
    if cfg.log_format not in ("json", "standard"):
        raise ServerConfigError(f"log_format: {cfg.log_format!r}; accepted: json, standard")


def _check_storage(cfg: ServerConfigInput) -> None:
    for key in ("data_path", "audit_dir"):
        value = getattr(cfg, key)
        if not value or '"' in value or "\n" in value:
            raise ServerConfigError(f"{key}: {value!r}; accepted: a path without quotes or newlines")
    if (
        isinstance(cfg.raft_performance_multiplier, bool)
        or not isinstance(cfg.raft_performance_multiplier, int)
        or not 1 <= cfg.raft_performance_multiplier <= 10
    ):
        raise ServerConfigError(
            f"raft_performance_multiplier: {cfg.raft_performance_multiplier!r}; accepted: an integer from 1 to 10 "
            "(1 is Vault's production setting)"
        )
    paths = [a.path for a in cfg.audit_devices]
    if len(paths) != len(set(paths)):
        raise ServerConfigError(f"audit_devices: duplicate paths {paths}; accepted: unique paths")


def validate(cfg: ServerConfigInput) -> None:
    """Raise ``ServerConfigError`` for the first invalid field (name, value, what is accepted)."""
    for step in (_check_mode, _check_cluster, _check_logs, _check_storage):
        step(cfg)


def scheme(cfg: ServerConfigInput) -> str:
    return "https" if cfg.tls is not None else "http"


def peer_hosts(cfg: ServerConfigInput) -> list[str]:
    """DNS names of the StatefulSet's pods through the headless Service."""
    return [f"{cfg.name}-{i}.{cfg.headless_service}.{cfg.namespace}.svc" for i in range(cfg.replicas)]


def tls_dns_names(cfg: ServerConfigInput) -> list[str]:
    """Names the listener certificate must cover (Subject Alternative Names), plus 127.0.0.1 as an IP."""
    ns, name, hl = cfg.namespace, cfg.name, cfg.headless_service
    return [
        name,
        f"{name}.{ns}",
        f"{name}.{ns}.svc",
        f"{name}.{ns}.svc.cluster.local",
        f"*.{hl}",
        f"*.{hl}.{ns}",
        f"*.{hl}.{ns}.svc",
        f"*.{hl}.{ns}.svc.cluster.local",
        "localhost",
    ]


def api_address(cfg: ServerConfigInput) -> str:
    """In-cluster address clients use (the client Service)."""
    return f"{scheme(cfg)}://{cfg.name}.{cfg.namespace}.svc:{cfg.port}"


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_server_hcl(cfg: ServerConfigInput) -> str:
    """The server configuration HCL for ``cfg`` (validated first)."""
    validate(cfg)
    out: list[str] = [
        "# Vault server configuration, rendered by components/vault/server_config.py. Do not edit by hand.",
        "# node_id, api_addr and cluster_addr come from VAULT_RAFT_NODE_ID, VAULT_API_ADDR and",
        "# VAULT_CLUSTER_ADDR, set per pod.",
        f"ui            = {str(cfg.ui).lower()}",
        "disable_mlock = true",
        f"cluster_name  = {_q(cfg.cluster_name)}",
        f"log_level     = {_q(cfg.log_level)}",
        f"log_format    = {_q(cfg.log_format)}",
        "",
        'listener "tcp" {',
        f"  address         = {_q(f'{cfg.listen_address}:{cfg.port}')}",
        f"  cluster_address = {_q(f'{cfg.listen_address}:{cfg.cluster_port}')}",
    ]
    if cfg.tls is None:
        out.append("  tls_disable     = true")
    else:
        out += [
            "  tls_disable     = false",
            f"  tls_cert_file   = {_q(cfg.tls.cert_path)}",
            f"  tls_key_file    = {_q(cfg.tls.key_path)}",
            '  tls_min_version = "tls12"',
        ]
    out += [
        "  telemetry {",
        "    unauthenticated_metrics_access = true",
        "  }",
        "}",
        "",
        'storage "raft" {',
        f"  path = {_q(cfg.data_path)}",
        f"  performance_multiplier = {cfg.raft_performance_multiplier}",
    ]
    peers = [f"{scheme(cfg)}://{host}:{cfg.port}" for host in peer_hosts(cfg)] if cfg.replicas > 1 else []
    peers += list(cfg.extra_retry_join)
    for peer in peers:
        out += ["", "  retry_join {", f"    leader_api_addr         = {_q(peer)}"]
        if cfg.tls is not None:
            out += [
                f"    leader_ca_cert_file     = {_q(cfg.tls.ca_path)}",
                f"    leader_client_cert_file = {_q(cfg.tls.cert_path)}",
                f"    leader_client_key_file  = {_q(cfg.tls.key_path)}",
            ]
        out.append("  }")
    out += ["}", ""]
    if cfg.kubernetes_service_registration:
        out += ['service_registration "kubernetes" {}', ""]
    out += [
        "telemetry {",
        f"  prometheus_retention_time = {_q(cfg.prometheus_retention_time)}",
        "  disable_hostname          = true",
        "}",
    ]
    for dev in cfg.audit_devices:
        out += [
            "",
            f'audit "file" {_q(dev.path)} {{',
            f"  description = {_q(dev.description)}",
            "  options {",
            f"    file_path = {_q(dev.file_path)}",
        ]
        for key, value in dev.options:
            out.append(f"    {key} = {_q(value)}")
        out += ["  }", "}"]
    return "\n".join(out) + "\n"


def server_args(cfg: ServerConfigInput) -> list[str]:
    """Container args: always a real server from the rendered file, never ``-dev``."""
    validate(cfg)
    return ["server", f"-config={CONFIG_DIR}/{CONFIG_FILE}"]


def server_env(cfg: ServerConfigInput) -> list[dict[str, Any]]:
    """Container environment (pulumi_kubernetes EnvVar dicts): per-pod addresses and Raft node id."""
    s = scheme(cfg)
    env: list[dict[str, Any]] = [
        {"name": "POD_IP", "value_from": {"field_ref": {"field_path": "status.podIP"}}},
        {"name": "VAULT_K8S_POD_NAME", "value_from": {"field_ref": {"field_path": "metadata.name"}}},
        {"name": "VAULT_K8S_NAMESPACE", "value_from": {"field_ref": {"field_path": "metadata.namespace"}}},
        {"name": "VAULT_RAFT_NODE_ID", "value": "$(VAULT_K8S_POD_NAME)"},
        {"name": "VAULT_ADDR", "value": f"{s}://127.0.0.1:{cfg.port}"},
        {"name": "VAULT_API_ADDR", "value": f"{s}://$(POD_IP):{cfg.port}"},
        {
            "name": "VAULT_CLUSTER_ADDR",
            "value": f"https://$(VAULT_K8S_POD_NAME).{cfg.headless_service}:{cfg.cluster_port}",
        },
        {"name": "SKIP_CHOWN", "value": "true"},
        {"name": "SKIP_SETCAP", "value": "true"},
        {"name": "HOME", "value": "/home/vault"},
    ]
    if cfg.tls is not None:
        env.append({"name": "VAULT_CACERT", "value": cfg.tls.ca_path})
    return env


def check_server_args(args: Sequence[str]) -> list[str]:
    """Problems in a Vault container's command/args (for the policy pack): dev mode."""
    if any(a == "-dev" or a.startswith(("-dev=", "-dev-", "--dev")) for a in args):
        return ["Vault must not run in dev mode (-dev: in memory, unsealed, root token printed)"]
    return []


def check_server_hcl(text: str, environment: str) -> list[str]:
    """Problems in rendered server HCL (for the policy pack): in-memory storage, TLS off in prod, no Raft."""
    problems: list[str] = []
    flat = re.sub(r"#[^\n]*", "", text)
    if re.search(r"\bstorage\s+\"inmem\"", flat):
        problems.append("Vault must not run in dev mode or with in-memory storage")
    if environment == "prod" and re.search(r"\btls_disable\s*=\s*(true|1|\"true\"|\"1\")", flat):
        problems.append("Vault's listener must use TLS in prod (tls_disable = true found)")
    if not re.search(r"\bstorage\s+\"raft\"", flat):
        problems.append("Vault must use integrated Raft storage on a persistent volume")
    return problems
