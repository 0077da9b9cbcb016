"""What this team needs from the platform stack's outputs (docs/OUTPUTS.md), as a pure function."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The outputs this program relies on; all are "stable" in docs/OUTPUTS.md.
REQUIRED_OUTPUTS = ("appNamespace", "grafanaUrl", "lokiPushUrl", "prometheusUrl", "vaultAddress", "vaultAuth")
VAULT_AUTH_KEYS = ("kubernetes_auth_path", "kubernetes_roles", "kv_mount")


class PlatformContractError(ValueError):
    """The platform stack does not export what this program needs."""


def platform_env(outputs: Mapping[str, Any], vault_role: str) -> dict[str, str]:
    """Environment variables for the team's pods, from the platform stack's outputs.

    Raises ``PlatformContractError`` naming every missing output or ``vaultAuth`` key, or the role that
    the platform's Vault does not have (with the roles it has).
    """
    missing = [name for name in REQUIRED_OUTPUTS if outputs.get(name) in (None, "")]
    if missing:
        raise PlatformContractError(
            f"platform stack outputs missing: {', '.join(missing)}; this program needs "
            f"{', '.join(REQUIRED_OUTPUTS)} (see docs/OUTPUTS.md)"
        )
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
    roles = list(auth["kubernetes_roles"])
    if vault_role not in roles:
        raise PlatformContractError(
            f"config vaultRole = {vault_role!r} is not a Kubernetes auth role of the platform's Vault; "
            f"vaultAuth.kubernetes_roles has: {', '.join(roles) or 'none'}"
        )
    return {
        "VAULT_ADDR": str(outputs["vaultAddress"]),
        "VAULT_AUTH_METHOD": "kubernetes",
        "VAULT_AUTH_MOUNT": str(auth["kubernetes_auth_path"]),
        "VAULT_ROLE": vault_role,
        "VAULT_KV_MOUNT": str(auth["kv_mount"]),
        "LOKI_PUSH_URL": str(outputs["lokiPushUrl"]),
        "PROMETHEUS_URL": str(outputs["prometheusUrl"]),
        "GRAFANA_URL": str(outputs["grafanaUrl"]),
    }
