"""Apply a ``VaultConfig`` idempotently: read the server's state, plan the changes, then apply them.

``plan(client, cfg, prune=False)`` only reads; it returns the ``Change`` list (empty when the server
already matches) or raises ``ToolError`` for a conflict it must not resolve by itself (a mount of
another type at a managed path). ``apply(changes)`` runs them in a safe order: audit devices first (so
everything after is audited), the KV mount and its settings, policies, auth methods and their
configuration, roles, then deletions (``--prune``: unmanaged roles in managed auth mounts and
unmanaged policies; ``root`` and ``default`` are never touched).

Comparison is done on the fields this tool manages, in the form Vault reads them back (TTLs in
seconds, lists sorted), so a second run plans nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import hvac
import hvac.exceptions

from components.vault.declarative import (
    FileAudit,
    JwtAuth,
    JwtRole,
    KubernetesAuth,
    KubernetesRole,
    VaultConfig,
    parse_duration,
)
from tools.vault.connection import ToolError

PROTECTED_POLICIES = frozenset({"root", "default"})
_LONG = 60  # values longer than this (PEM blocks) are shown as "(changed)"


@dataclass(frozen=True)
class Change:
    action: str  # create | update | replace | delete
    kind: str  # e.g. "audit device", "policy", "kubernetes role"
    name: str
    detail: str
    run: Callable[[], None]

    def line(self) -> str:
        sign = {"create": "+", "update": "~", "replace": "!", "delete": "-"}[self.action]
        text = f"{sign} {self.action} {self.kind} {self.name}"
        return f"{text}: {self.detail}" if self.detail else text


def _read(client: hvac.Client, path: str, *, upgrading_timeout: float = 15.0) -> dict[str, Any] | None:
    deadline = time.monotonic() + upgrading_timeout
    while True:
        try:
            resp = client.read(path)
            break
        except hvac.exceptions.InvalidPath:
            return None
        except hvac.exceptions.VaultError as exc:
            # A new KV v2 mount answers "Upgrading from non-versioned to versioned data" for a moment.
            if "Upgrading" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    if not resp:
        return None
    return dict(resp.get("data") or {})


def _norm(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return sorted(_norm(v) for v in value)
    if isinstance(value, Mapping):
        return {str(k): _norm(v) for k, v in value.items()}
    if isinstance(value, str):
        return value.strip()
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return "(changed)" if len(text) > _LONG else text


def _diff(desired: Mapping[str, Any], current: Mapping[str, Any] | None) -> list[str]:
    current = current or {}
    out = []
    for key, want in desired.items():
        have = current.get(key)
        if _norm(want) != _norm(have):
            out.append(
                f"{key} {_show(have)} -> {_show(want)}" if have not in (None, "", []) else f"{key} -> {_show(want)}"
            )
    return out


def _ttl(value: str) -> int:
    return int(parse_duration(value))


def kubernetes_config(a: KubernetesAuth) -> dict[str, Any]:
    out: dict[str, Any] = {"kubernetes_host": a.kubernetes_host}
    if a.kubernetes_ca_cert:
        out["kubernetes_ca_cert"] = a.kubernetes_ca_cert
    return out


def kubernetes_role_body(r: KubernetesRole) -> dict[str, Any]:
    out: dict[str, Any] = {
        "bound_service_account_names": [r.service_account],
        "bound_service_account_namespaces": [r.namespace],
        "token_policies": list(r.policies),
        "token_ttl": _ttl(r.token_ttl),
        "token_max_ttl": _ttl(r.token_max_ttl),
    }
    if r.audience:
        out["audience"] = r.audience
    return out


def jwt_config(a: JwtAuth) -> dict[str, Any]:
    out: dict[str, Any] = {"bound_issuer": a.bound_issuer}
    if a.jwt_validation_pubkeys:
        out["jwt_validation_pubkeys"] = list(a.jwt_validation_pubkeys)
    else:
        out["oidc_discovery_url"] = a.oidc_discovery_url
    return out


def jwt_role_body(r: JwtRole) -> dict[str, Any]:
    return {
        "role_type": "jwt",
        "bound_audiences": list(r.bound_audiences),
        "bound_claims": {k: list(v) for k, v in r.bound_claims.items()},
        "bound_claims_type": r.bound_claims_type,
        "user_claim": r.user_claim,
        "token_policies": list(r.policies),
        "token_ttl": _ttl(r.token_ttl),
        "token_max_ttl": _ttl(r.token_max_ttl),
    }


def _normalise_claims(current: dict[str, Any] | None) -> dict[str, Any] | None:
    """Vault may read a single-valued claim back as a string: compare it as a one-item list."""
    if current and isinstance(current.get("bound_claims"), Mapping):
        current = dict(current)
        current["bound_claims"] = {k: v if isinstance(v, list) else [v] for k, v in current["bound_claims"].items()}
    return current


def plan(client: hvac.Client, cfg: VaultConfig, *, prune: bool = False) -> list[Change]:
    """Read the server and return the changes that make it match ``cfg`` (no writes)."""
    changes: list[Change] = []
    changes += _plan_audit(client, cfg.audit)
    changes += _plan_kv(client, cfg)
    changes += _plan_policies(client, cfg, prune)
    changes += _plan_auth(client, cfg, prune)
    order = {"delete": 1}
    return sorted(changes, key=lambda c: order.get(c.action, 0))  # stable: deletions last


def apply(changes: list[Change], report: Callable[[str], None] = print) -> None:
    for change in changes:
        change.run()
        report(f"applied: {change.line()}")


# --------------------------------------------------------------------------------------------------
def _plan_audit(client: hvac.Client, devices: tuple[FileAudit, ...]) -> list[Change]:
    current = dict(client.sys.list_enabled_audit_devices().get("data") or {})
    out: list[Change] = []
    for dev in devices:
        key = dev.path.rstrip("/") + "/"
        have = current.get(key)
        want_opts = {"file_path": dev.file_path}

        def enable(dev: FileAudit = dev) -> None:
            try:
                client.sys.enable_audit_device(
                    "file", description=dev.description, options={"file_path": dev.file_path}, path=dev.path
                )
            except hvac.exceptions.InvalidRequest as exc:
                if "via API" in str(exc) or "declarative" in str(exc):
                    raise ToolError(
                        f"audit device {dev.path}: this server refuses to enable audit devices "
                        "through the API (OpenBao); declare it in the server configuration "
                        "(components.vault.server_config audit_devices) and restart"
                    ) from None
                raise

        if have is None:
            out.append(Change("create", "audit device", key, f"file_path={dev.file_path}", enable))
        elif have.get("type") != "file" or (have.get("options") or {}).get("file_path") != dev.file_path:

            def replace(dev: FileAudit = dev, enable: Callable[[], None] = enable) -> None:
                client.sys.disable_audit_device(dev.path)
                enable()

            out.append(
                Change(
                    "replace",
                    "audit device",
                    key,
                    "; ".join(
                        _diff({"type": "file", **want_opts}, {"type": have.get("type"), **(have.get("options") or {})})
                    ),
                    replace,
                )
            )
    return out


def _plan_kv(client: hvac.Client, cfg: VaultConfig) -> list[Change]:
    kv = cfg.kv
    key = kv.path + "/"
    mounts = dict(client.sys.list_mounted_secrets_engines().get("data") or {})
    have = mounts.get(key)
    out: list[Change] = []

    def enable() -> None:
        client.sys.enable_secrets_engine("kv", path=kv.path, description=kv.description, options={"version": "2"})
        _read(client, f"{kv.path}/config")  # waits until the new mount has finished its upgrade

    def configure() -> None:
        client.secrets.kv.v2.configure(max_versions=kv.max_versions, cas_required=kv.cas_required, mount_point=kv.path)

    if have is None:
        out.append(Change("create", "secrets engine", key, "kv version 2", enable))
        current_cfg: dict[str, Any] | None = None
    else:
        version = str((have.get("options") or {}).get("version", "1"))
        if have.get("type") != "kv" or version != "2":
            raise ToolError(
                f"kv.path: the mount {key} exists as {have.get('type')} version {version}, not kv "
                "version 2; refusing to change it (migrate it by hand or choose another kv.path)"
            )
        current_cfg = _read(client, f"{kv.path}/config")
    want = {"max_versions": kv.max_versions, "cas_required": kv.cas_required}
    diff = _diff(want, current_cfg)
    if diff:
        out.append(Change("update" if have is not None else "create", "kv settings", key, "; ".join(diff), configure))
    return out


def _plan_policies(client: hvac.Client, cfg: VaultConfig, prune: bool) -> list[Change]:
    existing = set(client.sys.list_acl_policies().get("data", {}).get("keys", []))
    out: list[Change] = []
    for pol in cfg.policies:

        def write(name: str = pol.name, text: str = pol.hcl) -> None:
            client.sys.create_or_update_acl_policy(name=name, policy=text)

        if pol.name not in existing:
            out.append(Change("create", "policy", pol.name, "", write))
            continue
        current = (client.sys.read_acl_policy(pol.name).get("data") or {}).get("policy", "")
        if current.strip() != pol.hcl.strip():
            out.append(Change("update", "policy", pol.name, "HCL differs", write))
    if prune:
        wanted = {p.name for p in cfg.policies}
        for name in sorted(existing - wanted - PROTECTED_POLICIES):

            def delete(name: str = name) -> None:
                client.sys.delete_acl_policy(name)

            out.append(Change("delete", "policy", name, "not in the configuration", delete))
    return out


def _plan_auth(client: hvac.Client, cfg: VaultConfig, prune: bool) -> list[Change]:
    mounts = dict(client.sys.list_auth_methods().get("data") or {})
    out: list[Change] = []
    for a in cfg.auth:
        key = a.path + "/"
        have = mounts.get(key)
        if have is not None and have.get("type") != a.type:
            raise ToolError(
                f"auth path {key} is a {have.get('type')} method, the configuration wants {a.type}; "
                "refusing to replace it (disable it by hand or choose another path)"
            )
        want_cfg = kubernetes_config(a) if isinstance(a, KubernetesAuth) else jwt_config(a)

        def enable_auth(a: Any = a) -> None:
            client.sys.enable_auth_method(a.type, path=a.path)

        def write_config(a: Any = a, body: dict[str, Any] = want_cfg) -> None:
            client.write_data(f"auth/{a.path}/config", data=body)

        if have is None:
            out.append(Change("create", "auth method", key, a.type, enable_auth))
        current_cfg = _read(client, f"auth/{a.path}/config") if have is not None else None
        diff = _diff(want_cfg, current_cfg)
        if diff:
            out.append(
                Change(
                    "update" if current_cfg else "create", f"{a.type} auth config", key, "; ".join(diff), write_config
                )
            )
        existing_roles: set[str] = set()
        if have is not None:
            try:
                listed = client.list(f"auth/{a.path}/role")
            except hvac.exceptions.InvalidPath:
                listed = None
            existing_roles = set(((listed or {}).get("data") or {}).get("keys", []))
        for role in a.roles:
            body = kubernetes_role_body(role) if isinstance(role, KubernetesRole) else jwt_role_body(role)
            current = _read(client, f"auth/{a.path}/role/{role.name}") if role.name in existing_roles else None
            if isinstance(role, JwtRole):
                current = _normalise_claims(current)
            role_kind = f"{a.type} role"

            def write(a: Any = a, name: str = role.name, body: dict[str, Any] = body) -> None:
                client.write_data(f"auth/{a.path}/role/{name}", data=body)

            if current is None:
                out.append(Change("create", role_kind, f"{a.path}/{role.name}", "", write))
                continue
            diff = _diff(body, current)
            if diff:
                out.append(Change("update", role_kind, f"{a.path}/{role.name}", "; ".join(diff), write))
        if prune:
            wanted = {r.name for r in a.roles}
            for name in sorted(existing_roles - wanted):

                def delete_role(a: Any = a, name: str = name) -> None:
                    client.delete(f"auth/{a.path}/role/{name}")

                out.append(
                    Change("delete", f"{a.type} role", f"{a.path}/{name}", "not in the configuration", delete_role)
                )
    return out
