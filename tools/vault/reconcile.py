"""Plan, then apply, a ``VaultConfig``: read the server, compute the whole change set, apply it in order.

``plan(client, cfg, prune=())`` only reads. It returns a ``Plan``: the ``Change`` list (empty when the
server already matches) and every unmanaged item the server holds (policies, roles in managed auth
mounts, auth methods, secrets engines, audit devices that are not in the configuration). With ``prune``
naming a class (``PRUNE_CLASSES``), that class's unmanaged items become deletions. Never touched:
the ``root`` and ``default`` policies, the system mounts (``sys/``, ``identity/``, ``cubbyhole/``) and the
``token/`` auth method. A conflict the tool must not resolve by itself (a mount of another type at a
managed path) raises ``ToolError`` before anything is written.

``apply(plan)`` runs the changes in dependency order (``Change.stage``): audit devices first (so
everything after is audited), secrets engines and their settings, policies, auth methods, their
configuration, roles; then the deletions in reverse (roles, auth methods, policies, secrets engines,
audit devices). It stops at the first refusal with a ``ToolError`` naming the change that failed and
those already applied; a rerun plans only what is left.

Roles are compared on every field Vault returns, not only the ones the document sets: a field the
document leaves out must have Vault's default (``KUBERNETES_ROLE_DEFAULTS``, ``JWT_ROLE_DEFAULTS``), so a
``token_period`` set by hand is drift, and the write sends every field. Values are compared in the form
Vault reads them back (TTLs in seconds, lists sorted, empty values alike), so a second run plans nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
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
from tools.vault.connection import ToolError, explain

PROTECTED_POLICIES = frozenset({"root", "default"})
PROTECTED_SECRETS_ENGINES = frozenset({"sys/", "identity/", "cubbyhole/"})
PROTECTED_AUTH_METHODS = frozenset({"token/"})
PRUNE_CLASSES = ("policies", "roles", "auth", "secrets", "audit")
_LONG = 60  # values longer than this (PEM blocks) are shown as "(changed)"

# Stages (dependency order). Deletions run after every create/update, most dependent first.
STAGE_AUDIT, STAGE_SECRETS, STAGE_POLICY, STAGE_AUTH, STAGE_AUTH_CONFIG, STAGE_ROLE = range(6)
DELETE_STAGE = {"roles": 10, "auth": 11, "policies": 12, "secrets": 13, "audit": 14}

# Every field of a role as Vault/OpenBao read it back, with the value a role has when the document does
# not set it. The write sends all of them, so a field changed by hand is put back.
TOKEN_DEFAULTS: dict[str, Any] = {
    "token_bound_cidrs": [],
    "token_explicit_max_ttl": 0,
    "token_max_ttl": 0,
    "token_no_default_policy": False,
    "token_num_uses": 0,
    "token_period": 0,
    "token_policies": [],
    "token_strictly_bind_ip": False,
    "token_ttl": 0,
    "token_type": "default",
}
KUBERNETES_ROLE_DEFAULTS: dict[str, Any] = {
    **TOKEN_DEFAULTS,
    "alias_name_source": "serviceaccount_uid",
    "audience": "",
    "bound_service_account_names": [],
    "bound_service_account_namespace_selector": "",
    "bound_service_account_namespaces": [],
}
JWT_ROLE_DEFAULTS: dict[str, Any] = {
    **TOKEN_DEFAULTS,
    "allowed_redirect_uris": [],
    "bound_audiences": [],
    "bound_claims": {},
    "bound_claims_type": "string",
    "bound_subject": "",
    "callback_mode": "client",
    "claim_mappings": {},
    "clock_skew_leeway": 0,
    "expiration_leeway": 0,
    "groups_claim": "",
    "max_age": 0,
    "not_before_leeway": 0,
    "oauth2_metadata": [],
    "oidc_disable_confirmation": False,
    "oidc_scopes": [],
    "role_type": "jwt",
    "token_policies_template_claims": False,
    "user_claim": "sub",
    "user_claim_json_pointer": False,
    "verbose_oidc_logging": False,
}
# Every field of an auth method's configuration, likewise (``auth/<path>/config``). Read-only indicators
# (``status``, ``token_reviewer_jwt_set``) are not compared; write-only secrets are never read back.
KUBERNETES_CONFIG_DEFAULTS: dict[str, Any] = {
    "disable_iss_validation": True,
    "disable_local_ca_jwt": False,
    "issuer": "",
    "kubernetes_ca_cert": "",
    "kubernetes_host": "",
    "pem_keys": [],
}
JWT_CONFIG_DEFAULTS: dict[str, Any] = {
    "bound_issuer": "",
    "default_role": "",
    "jwks_ca_pem": "",
    "jwks_url": "",
    "jwt_supported_algs": [],
    "jwt_validation_pubkeys": [],
    "namespace_in_state": True,
    "oidc_client_id": "",
    "oidc_discovery_ca_pem": "",
    "oidc_discovery_url": "",
    "oidc_response_mode": "",
    "oidc_response_types": [],
    "override_allowed_server_names": [],
    "provider_config": {},
}
READ_ONLY_CONFIG_FIELDS = frozenset({"status", "token_reviewer_jwt_set"})
# HashiCorp Vault also returns the pre-1.4 names of the token fields; they mirror token_* and are not
# compared separately.
DEPRECATED_ROLE_ALIASES = frozenset({"policies", "ttl", "max_ttl", "period", "num_uses", "bound_cidrs"})


@dataclass(frozen=True)
class Change:
    action: str  # create | update | replace | delete
    kind: str  # e.g. "audit device", "policy", "kubernetes role"
    name: str
    detail: str
    run: Callable[[], None] = field(compare=False, repr=False)
    stage: int = 0

    def line(self) -> str:
        sign = {"create": "+", "update": "~", "replace": "!", "delete": "-"}[self.action]
        text = f"{sign} {self.action} {self.kind} {self.name}"
        return f"{text}: {self.detail}" if self.detail else text


@dataclass(frozen=True)
class Unmanaged:
    klass: str  # one of PRUNE_CLASSES
    kind: str
    name: str

    def line(self) -> str:
        return f"? {self.kind} {self.name} (--prune={self.klass} deletes it)"


@dataclass(frozen=True)
class Plan:
    changes: list[Change]
    unmanaged: list[Unmanaged]  # not pruned: reported only


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
    if value is None or value == "" or value == [] or value == {}:
        return None  # Vault reads an unset list or map back as null, [] or {} depending on the field
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
                f"{key} {_show(have)} -> {_show(want)}" if _norm(have) is not None else f"{key} -> {_show(want)}"
            )
    return out


def _ttl(value: str) -> int:
    return int(parse_duration(value))


def kubernetes_config(a: KubernetesAuth) -> dict[str, Any]:
    """Every field of ``auth/<path>/config``: the document's values over Vault's defaults."""
    return {
        **KUBERNETES_CONFIG_DEFAULTS,
        "kubernetes_host": a.kubernetes_host,
        "kubernetes_ca_cert": a.kubernetes_ca_cert,
    }


def kubernetes_role_body(r: KubernetesRole) -> dict[str, Any]:
    """Every field of the role: the document's values over Vault's defaults."""
    return {
        **KUBERNETES_ROLE_DEFAULTS,
        "bound_service_account_names": [r.service_account],
        "bound_service_account_namespaces": [r.namespace],
        "token_policies": list(r.policies),
        "token_ttl": _ttl(r.token_ttl),
        "token_max_ttl": _ttl(r.token_max_ttl),
        "audience": r.audience,
    }


def jwt_config(a: JwtAuth) -> dict[str, Any]:
    """Every field of ``auth/<path>/config``: the document's values over Vault's defaults."""
    out: dict[str, Any] = {**JWT_CONFIG_DEFAULTS, "bound_issuer": a.bound_issuer}
    if a.jwt_validation_pubkeys:
        out["jwt_validation_pubkeys"] = list(a.jwt_validation_pubkeys)
    else:
        out["oidc_discovery_url"] = a.oidc_discovery_url
    return out


def jwt_role_body(r: JwtRole) -> dict[str, Any]:
    """Every field of the role: the document's values over Vault's defaults."""
    return {
        **JWT_ROLE_DEFAULTS,
        "role_type": "jwt",
        "bound_audiences": list(r.bound_audiences),
        "bound_claims": {k: list(v) for k, v in r.bound_claims.items()},
        "bound_claims_type": r.bound_claims_type,
        "user_claim": r.user_claim,
        "token_policies": list(r.policies),
        "token_ttl": _ttl(r.token_ttl),
        "token_max_ttl": _ttl(r.token_max_ttl),
    }


def role_diff(
    body: Mapping[str, Any], current: Mapping[str, Any], ignore: frozenset[str] = DEPRECATED_ROLE_ALIASES
) -> list[str]:
    """Differences on every field: the desired body's and every field the server returned."""
    current = _normalise_claims(dict(current))
    out = sorted(_diff(body, current))
    for key in sorted(set(current) - set(body) - ignore):
        if _norm(current[key]) is not None:  # a field this tool does not know, set on the server
            out.append(f"{key} {_show(current[key])} -> (unset: not in the configuration)")
    return out


def _normalise_claims(current: dict[str, Any]) -> dict[str, Any]:
    """Vault may read a single-valued claim back as a string: compare it as a one-item list."""
    if isinstance(current.get("bound_claims"), Mapping):
        current["bound_claims"] = {k: v if isinstance(v, list) else [v] for k, v in current["bound_claims"].items()}
    return current


def parse_prune(value: str | None) -> tuple[str, ...]:
    """``--prune`` (all classes) or ``--prune=policies,roles``; ``ToolError`` (exit 2) names a bad class."""
    if value is None:
        return ()
    if value in ("", "all"):
        return PRUNE_CLASSES
    chosen = tuple(v.strip() for v in value.split(","))
    bad = [v for v in chosen if v not in PRUNE_CLASSES]
    if bad:
        raise ToolError(
            f"--prune {value!r}: unknown class {', '.join(map(repr, bad))}; accepted: all or a comma-separated "
            f"list of {', '.join(PRUNE_CLASSES)}",
            2,
        )
    return chosen


def plan(client: hvac.Client, cfg: VaultConfig, *, prune: Iterable[str] = ()) -> Plan:
    """Read the server and return the plan that makes it match ``cfg`` (no writes)."""
    pruned = set(prune)
    changes: list[Change] = []
    unmanaged: list[Unmanaged] = []
    for part in (_plan_audit, _plan_secrets, _plan_policies, _plan_auth):
        c, u = part(client, cfg)
        changes += c
        unmanaged += u
    for item in unmanaged:
        if item.klass in pruned:
            changes.append(_deletion(client, item))
    ordered = sorted(changes, key=lambda c: c.stage)  # stable within a stage
    return Plan(ordered, [u for u in unmanaged if u.klass not in pruned])


def apply(changes: list[Change], report: Callable[[str], None] = print, *, address: str = "Vault") -> None:
    """Apply in order; on the first refusal raise ``ToolError`` naming it and what was already applied."""
    done: list[Change] = []
    for n, change in enumerate(changes, 1):
        try:
            change.run()
        except Exception as exc:
            err = explain(exc, address)
            if err is None:
                raise
            reason = str(err)
            applied = "; ".join(c.line() for c in done) if done else "nothing"
            raise ToolError(
                f"change {n} of {len(changes)} failed: {change.line()}: {reason}. Already applied: {applied}. "
                f"Not applied: this change and the {len(changes) - n} after it; fix the cause and run reconcile "
                "again (it plans only what is left)",
                err.code,
            ) from None
        done.append(change)
        report(f"applied: {change.line()}")


# --------------------------------------------------------------------------------------------------
def _deletion(client: hvac.Client, item: Unmanaged) -> Change:
    def run() -> None:
        if item.klass == "policies":
            client.sys.delete_acl_policy(item.name)
        elif item.klass == "roles":
            mount, _, role = item.name.partition("/")  # "<mount>/<role>" (a mount name has no slash)
            client.delete(f"auth/{mount}/role/{role}")
        elif item.klass == "auth":
            client.sys.disable_auth_method(item.name.rstrip("/"))
        elif item.klass == "secrets":
            client.sys.disable_secrets_engine(item.name.rstrip("/"))
        else:
            client.sys.disable_audit_device(item.name.rstrip("/"))

    detail = "not in the configuration" + (" (its data goes with it)" if item.klass == "secrets" else "")
    return Change("delete", item.kind, item.name, detail, run, DELETE_STAGE[item.klass])


def _plan_audit(client: hvac.Client, cfg: VaultConfig) -> tuple[list[Change], list[Unmanaged]]:
    current = dict(client.sys.list_enabled_audit_devices().get("data") or {})
    out: list[Change] = []
    for dev in cfg.audit:
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
            out.append(Change("create", "audit device", key, f"file_path={dev.file_path}", enable, STAGE_AUDIT))
        elif have.get("type") != "file" or (have.get("options") or {}).get("file_path") != dev.file_path:

            def replace(dev: FileAudit = dev, enable: Callable[[], None] = enable) -> None:
                client.sys.disable_audit_device(dev.path)
                enable()

            detail = "; ".join(
                _diff({"type": "file", **want_opts}, {"type": have.get("type"), **(have.get("options") or {})})
            )
            out.append(Change("replace", "audit device", key, detail, replace, STAGE_AUDIT))
    wanted = {d.path.rstrip("/") + "/" for d in cfg.audit}
    stray = [Unmanaged("audit", "audit device", key) for key in sorted(set(current) - wanted)]
    return out, stray


def _plan_secrets(client: hvac.Client, cfg: VaultConfig) -> tuple[list[Change], list[Unmanaged]]:
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
        out.append(Change("create", "secrets engine", key, "kv version 2", enable, STAGE_SECRETS))
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
        action = "update" if have is not None else "create"
        out.append(Change(action, "kv settings", key, "; ".join(diff), configure, STAGE_SECRETS))
    stray = [
        Unmanaged("secrets", f"{(mounts[k] or {}).get('type', '?')} secrets engine", k)
        for k in sorted(set(mounts) - {key} - PROTECTED_SECRETS_ENGINES)
    ]
    return out, stray


def _plan_policies(client: hvac.Client, cfg: VaultConfig) -> tuple[list[Change], list[Unmanaged]]:
    existing = set(client.sys.list_acl_policies().get("data", {}).get("keys", []))
    out: list[Change] = []
    for pol in cfg.policies:

        def write(name: str = pol.name, text: str = pol.hcl) -> None:
            client.sys.create_or_update_acl_policy(name=name, policy=text)

        if pol.name not in existing:
            out.append(Change("create", "policy", pol.name, "", write, STAGE_POLICY))
            continue
        current = (client.sys.read_acl_policy(pol.name).get("data") or {}).get("policy", "")
        if current.strip() != pol.hcl.strip():
            out.append(Change("update", "policy", pol.name, "HCL differs", write, STAGE_POLICY))
    wanted = {p.name for p in cfg.policies}
    stray = [Unmanaged("policies", "policy", n) for n in sorted(existing - wanted - PROTECTED_POLICIES)]
    return out, stray


def _plan_auth(client: hvac.Client, cfg: VaultConfig) -> tuple[list[Change], list[Unmanaged]]:
    mounts = dict(client.sys.list_auth_methods().get("data") or {})
    out: list[Change] = []
    stray: list[Unmanaged] = []
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
            out.append(Change("create", "auth method", key, a.type, enable_auth, STAGE_AUTH))
        current_cfg = _read(client, f"auth/{a.path}/config") if have is not None else None
        diff = role_diff(want_cfg, current_cfg or {}, READ_ONLY_CONFIG_FIELDS)
        if diff:
            action = "update" if current_cfg else "create"
            out.append(Change(action, f"{a.type} auth config", key, "; ".join(diff), write_config, STAGE_AUTH_CONFIG))
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
            role_kind = f"{a.type} role"

            def write(a: Any = a, name: str = role.name, body: dict[str, Any] = body) -> None:
                client.write_data(f"auth/{a.path}/role/{name}", data=body)

            if current is None:
                out.append(Change("create", role_kind, f"{a.path}/{role.name}", "", write, STAGE_ROLE))
                continue
            rdiff = role_diff(body, current)
            if rdiff:
                out.append(Change("update", role_kind, f"{a.path}/{role.name}", "; ".join(rdiff), write, STAGE_ROLE))
        wanted = {r.name for r in a.roles}
        stray += [Unmanaged("roles", f"{a.type} role", f"{a.path}/{n}") for n in sorted(existing_roles - wanted)]
    managed = {a.path + "/" for a in cfg.auth}
    stray += [
        Unmanaged("auth", f"{(mounts[k] or {}).get('type', '?')} auth method", k)
        for k in sorted(set(mounts) - managed - PROTECTED_AUTH_METHODS)
    ]
    return out, stray
