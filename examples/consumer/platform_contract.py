"""What this team needs from the platform stack's outputs (docs/OUTPUTS.md), as a pure function."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The outputs this program relies on; all are "stable" in docs/OUTPUTS.md.
REQUIRED_OUTPUTS = ("grafanaUrl", "lokiPushUrl", "prometheusUrl", "services", "vaultAddress", "vaultAuth")
VAULT_AUTH_KEYS = ("kubernetes_auth_path", "kubernetes_roles", "kv_mount")
# The keys of this team's entry in the ``services`` output that the program reads.
SERVICE_KEYS = ("namespace", "url", "vaultRole")


class PlatformContractError(ValueError):
    """The platform stack does not export what this program needs."""


def service_entry(outputs: Mapping[str, Any], service: str) -> Mapping[str, Any]:
    """This team's entry of the ``services`` output; ``PlatformContractError`` names the services the stack
    exports when ``service`` is not one of them, and the keys the entry lacks."""
    services = outputs.get("services")
    if not isinstance(services, Mapping):
        raise PlatformContractError(
            f"platform stack output services is a {type(services).__name__}; expected an object of service "
            "name -> entry (see docs/OUTPUTS.md)"
        )
    if service not in services:
        raise PlatformContractError(
            f"config service = {service!r} is not a service of the platform stack; its services output has: "
            f"{', '.join(sorted(services)) or 'none'}"
        )
    entry = services[service]
    if not isinstance(entry, Mapping):
        raise PlatformContractError(
            f"platform stack output services.{service} is a {type(entry).__name__}; expected an object "
            f"with the keys {', '.join(SERVICE_KEYS)}"
        )
    missing = [key for key in SERVICE_KEYS if entry.get(key) in (None, "")]
    if missing:
        raise PlatformContractError(
            f"platform stack output services.{service} lacks {', '.join(missing)}; "
            f"expected the keys {', '.join(SERVICE_KEYS)} (see docs/OUTPUTS.md)"
        )
    return entry


def platform_env(outputs: Mapping[str, Any], service: str) -> dict[str, str]:
    """Environment variables for the team's pods, from the platform stack's outputs.

    Raises ``PlatformContractError`` naming every missing output or ``vaultAuth`` key, a service the stack
    does not run (with the ones it does), or a service whose Vault role the platform's Vault does not have.
    """
    missing = [name for name in REQUIRED_OUTPUTS if outputs.get(name) in (None, "")]
    if missing:
        raise PlatformContractError(
            f"platform stack outputs missing: {', '.join(missing)}; this program needs "
            f"{', '.join(REQUIRED_OUTPUTS)} (see docs/OUTPUTS.md)"
        )
    entry = service_entry(outputs, service)
    auth = outputs["vaultAuth"]
    if not isinstance(auth, Mapping):
        raise PlatformContractError(
            f"platform stack output vaultAuth is a {type(auth).__name__}; expected an object "
            f"with the keys {', '.join(VAULT_AUTH_KEYS)}"
        )
    missing_keys = [key for key in VAULT_AUTH_KEYS if key not in auth]
    if missing_keys:
        raise PlatformContractError(
            f"platform stack output vaultAuth lacks {', '.join(missing_keys)}; "
            f"expected the keys {', '.join(VAULT_AUTH_KEYS)}"
        )
    role = str(entry["vaultRole"])
    roles = list(auth["kubernetes_roles"])
    if role not in roles:
        raise PlatformContractError(
            f"services.{service}.vaultRole = {role!r} is not a Kubernetes auth role of the platform's Vault; "
            f"vaultAuth.kubernetes_roles has: {', '.join(roles) or 'none'}"
        )
    return {
        "SERVICE_NAME": service,
        "SERVICE_URL": str(entry["url"]),
        "VAULT_ADDR": str(outputs["vaultAddress"]),
        "VAULT_AUTH_METHOD": "kubernetes",
        "VAULT_AUTH_MOUNT": str(auth["kubernetes_auth_path"]),
        "VAULT_ROLE": role,
        "VAULT_KV_MOUNT": str(auth["kv_mount"]),
        "LOKI_PUSH_URL": str(outputs["lokiPushUrl"]),
        "PROMETHEUS_URL": str(outputs["prometheusUrl"]),
        "GRAFANA_URL": str(outputs["grafanaUrl"]),
    }
