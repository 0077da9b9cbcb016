"""Plan, then apply, a ``VaultConfig`` (``hardening/v2``): read the server, compute the change set, apply it in order.

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

The document's bodies are the API's (``components.vault.document``): a role is written as
``auth/<path>/role/<name>`` with the document's body over the API's defaults, an auth method's config as
``auth/<path>/config``, a KV mount's ``config`` as ``<mount>/config``. No field is translated.

Drift: roles, auth configs and KV mount configs are compared on every field the server returns, not only
the ones the document sets. A field in the document must have the document's value; a field the document
leaves out must have the API's default (``KUBERNETES_ROLE_DEFAULTS``, ``JWT_ROLE_DEFAULTS``,
``*_CONFIG_DEFAULTS``, ``KV_CONFIG_DEFAULTS``), so a ``token_period`` set by hand is drift; a field this
tool does not know, set on the server, is drift too. The write sends every known field, so all of it is put
back. Values are compared in the form Vault reads them back (durations in seconds, lists sorted, a single
claim value as a one-item list, empty values alike), so a second run plans nothing. A policy is compared on
its HCL (the only field ``sys/policies/acl/<name>`` returns), an audit device on its type and options.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import hvac
import hvac.exceptions

from components.vault.document import VaultConfig
from components.vault.document.base import seconds
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
# ``<mount>/config`` of a KV version 2 mount.
KV_CONFIG_DEFAULTS: dict[str, Any] = {
    "max_versions": 0,
    "cas_required": False,
    "delete_version_after": "0s",
    "metadata_cas_required": False,  # OpenBao
}
ROLE_DEFAULTS = {"kubernetes": KUBERNETES_ROLE_DEFAULTS, "jwt": JWT_ROLE_DEFAULTS}
CONFIG_DEFAULTS = {"kubernetes": KUBERNETES_CONFIG_DEFAULTS, "jwt": JWT_CONFIG_DEFAULTS}
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


def _same(want: Any, have: Any) -> bool:
    """Equal as Vault means it: a duration string (``1h``) equals the seconds (3600) or the Go form
    (``1h0m0s``) the server reads back."""
    if isinstance(want, str) and isinstance(have, (int, str)) and not isinstance(have, bool):
        w, h = seconds(want), seconds(have)
        if w is not None and h is not None:
            return w == h
    return bool(_norm(want) == _norm(have))


def _show(value: Any) -> str:
    text = repr(value)
    return "(changed)" if len(text) > _LONG else text


def _diff(desired: Mapping[str, Any], current: Mapping[str, Any] | None) -> list[str]:
    current = current or {}
    out = []
    for key, want in desired.items():
        have = current.get(key)
        if not _same(want, have):
            out.append(
                f"{key} {_show(have)} -> {_show(want)}" if _norm(have) is not None else f"{key} -> {_show(want)}"
            )
    return out


def desired_body(defaults: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """What is written and compared: the document's body over the API's defaults."""
    return _normalise_claims({**defaults, **body})


def role_body(auth_type: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The write for ``auth/<path>/role/<name>`` of an auth method of ``auth_type``."""
    return desired_body(ROLE_DEFAULTS[auth_type], body)


def role_diff(
    body: Mapping[str, Any],
    current: Mapping[str, Any],
    ignore: frozenset[str] = DEPRECATED_ROLE_ALIASES,
    defaults: Mapping[str, Any] | None = None,
) -> list[str]:
    """Differences on every field: the desired body's and every field the server returned. A field at its
    default in ``defaults`` that this server does not return at all (it does not have it) is no drift."""
    current = _normalise_claims(dict(current))
    defaults = defaults or {}
    if current:
        body = {k: v for k, v in body.items() if k in current or k not in defaults or v != defaults[k]}
    out = sorted(_diff(body, current))
    for key in sorted(set(current) - set(body) - ignore):
        if _norm(current[key]) is not None:  # a field this tool does not know, set on the server
            out.append(f"{key} {_show(current[key])} -> (unset: not in the configuration)")
    return out


def _normalise_claims(current: dict[str, Any]) -> dict[str, Any]:
    """A single-valued claim may be written or read back as a string: compare it as a one-item list."""
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


def _enable_audit(client: hvac.Client, path: str, dev: Mapping[str, Any]) -> None:
    try:
        client.sys.enable_audit_device(
            dev["type"], description=dev.get("description"), options=dict(dev["options"]), path=path
        )
    except hvac.exceptions.InvalidRequest as exc:
        if "via API" in str(exc) or "declarative" in str(exc):
            raise ToolError(
                f"audit device {path}: this server refuses to enable audit devices "
                "through the API (OpenBao); declare it in the server configuration "
                "(components.vault.server_config audit_devices) and restart"
            ) from None
        raise


def _plan_audit(client: hvac.Client, cfg: VaultConfig) -> tuple[list[Change], list[Unmanaged]]:
    current = dict(client.sys.list_enabled_audit_devices().get("data") or {})
    out: list[Change] = []
    for path, dev in cfg.audit.items():
        key = path.rstrip("/") + "/"
        have = current.get(key)
        want = {"type": dev["type"], **dev["options"]}

        def enable(path: str = path, dev: Mapping[str, Any] = dev) -> None:
            _enable_audit(client, path, dev)

        if have is None:
            detail = ", ".join(f"{k}={v}" for k, v in dev["options"].items())
            out.append(Change("create", "audit device", key, detail, enable, STAGE_AUDIT))
            continue
        diff = _diff(want, {"type": have.get("type"), **(have.get("options") or {})})
        if diff:

            def replace(path: str = path, enable: Callable[[], None] = enable) -> None:
                client.sys.disable_audit_device(path)
                enable()

            out.append(Change("replace", "audit device", key, "; ".join(diff), replace, STAGE_AUDIT))
    wanted = {p.rstrip("/") + "/" for p in cfg.audit}
    stray = [Unmanaged("audit", "audit device", key) for key in sorted(set(current) - wanted)]
    return out, stray


def _refuse_other_engine(key: str, have: Mapping[str, Any]) -> None:
    version = str((have.get("options") or {}).get("version", "1"))
    if have.get("type") != "kv" or version != "2":
        raise ToolError(
            f"secrets.{key.rstrip('/')}: the mount {key} exists as {have.get('type')} version {version}, not kv "
            "version 2; refusing to change it (migrate it by hand or choose another mount path)"
        )


def _plan_mount(client: hvac.Client, path: str, mount: Mapping[str, Any], have: Any) -> list[Change]:
    key = path + "/"
    out: list[Change] = []

    def enable() -> None:
        client.sys.enable_secrets_engine(
            mount["type"], path=path, description=mount.get("description"), options=dict(mount["options"])
        )
        _read(client, f"{path}/config")  # waits until the new mount has finished its upgrade

    body = desired_body(KV_CONFIG_DEFAULTS, mount.get("config") or {})

    def configure() -> None:
        client.write_data(f"{path}/config", data=body)

    if have is None:
        detail = f"{mount['type']} version {mount['options']['version']}"
        out.append(Change("create", "secrets engine", key, detail, enable, STAGE_SECRETS))
        current: dict[str, Any] | None = None
    else:
        _refuse_other_engine(key, have)
        current = _read(client, f"{path}/config")
    diff = role_diff(body, current or {}, defaults=KV_CONFIG_DEFAULTS)
    if diff:
        action = "update" if have is not None else "create"
        out.append(Change(action, "kv settings", key, "; ".join(diff), configure, STAGE_SECRETS))
    return out


def _plan_secrets(client: hvac.Client, cfg: VaultConfig) -> tuple[list[Change], list[Unmanaged]]:
    mounts = dict(client.sys.list_mounted_secrets_engines().get("data") or {})
    out: list[Change] = []
    for path, mount in cfg.secrets.items():
        out += _plan_mount(client, path, mount, mounts.get(path + "/"))
    wanted = {p + "/" for p in cfg.secrets}
    stray = [
        Unmanaged("secrets", f"{(mounts[k] or {}).get('type', '?')} secrets engine", k)
        for k in sorted(set(mounts) - wanted - PROTECTED_SECRETS_ENGINES)
    ]
    return out, stray


def _plan_policies(client: hvac.Client, cfg: VaultConfig) -> tuple[list[Change], list[Unmanaged]]:
    existing = set(client.sys.list_acl_policies().get("data", {}).get("keys", []))
    out: list[Change] = []
    for name, hcl in cfg.policies.items():

        def write(name: str = name, text: str = hcl) -> None:
            client.sys.create_or_update_acl_policy(name=name, policy=text)

        if name not in existing:
            out.append(Change("create", "policy", name, "", write, STAGE_POLICY))
            continue
        current = (client.sys.read_acl_policy(name).get("data") or {}).get("policy", "")
        if current.strip() != hcl.strip():
            out.append(Change("update", "policy", name, "HCL differs", write, STAGE_POLICY))
    stray = [Unmanaged("policies", "policy", n) for n in sorted(existing - set(cfg.policies) - PROTECTED_POLICIES)]
    return out, stray


def _existing_roles(client: hvac.Client, path: str) -> set[str]:
    try:
        listed = client.list(f"auth/{path}/role")
    except hvac.exceptions.InvalidPath:
        listed = None
    return set(((listed or {}).get("data") or {}).get("keys", []))


def _plan_roles(
    client: hvac.Client, path: str, method: Mapping[str, Any], existing: set[str]
) -> tuple[list[Change], list[Unmanaged]]:
    kind = method["type"]
    out: list[Change] = []
    for name, doc_body in (method.get("roles") or {}).items():
        body = role_body(kind, doc_body)

        def write(name: str = name, body: dict[str, Any] = body) -> None:
            client.write_data(f"auth/{path}/role/{name}", data=body)

        current = _read(client, f"auth/{path}/role/{name}") if name in existing else None
        if current is None:
            out.append(Change("create", f"{kind} role", f"{path}/{name}", "", write, STAGE_ROLE))
            continue
        diff = role_diff(body, current, defaults=ROLE_DEFAULTS[kind])
        if diff:
            out.append(Change("update", f"{kind} role", f"{path}/{name}", "; ".join(diff), write, STAGE_ROLE))
    wanted = set(method.get("roles") or {})
    return out, [Unmanaged("roles", f"{kind} role", f"{path}/{n}") for n in sorted(existing - wanted)]


def _plan_method(
    client: hvac.Client, path: str, method: Mapping[str, Any], have: Any
) -> tuple[list[Change], list[Unmanaged]]:
    key, kind = path + "/", method["type"]
    if have is not None and have.get("type") != kind:
        raise ToolError(
            f"auth path {key} is a {have.get('type')} method, the configuration wants {kind}; "
            "refusing to replace it (disable it by hand or choose another path)"
        )
    want_cfg = desired_body(CONFIG_DEFAULTS[kind], method.get("config") or {})

    def enable_auth() -> None:
        client.sys.enable_auth_method(kind, path=path, description=method.get("description"))

    def write_config() -> None:
        client.write_data(f"auth/{path}/config", data=want_cfg)

    out: list[Change] = []
    if have is None:
        out.append(Change("create", "auth method", key, kind, enable_auth, STAGE_AUTH))
    current_cfg = _read(client, f"auth/{path}/config") if have is not None else None
    diff = role_diff(want_cfg, current_cfg or {}, READ_ONLY_CONFIG_FIELDS, CONFIG_DEFAULTS[kind])
    if diff:
        action = "update" if current_cfg else "create"
        out.append(Change(action, f"{kind} auth config", key, "; ".join(diff), write_config, STAGE_AUTH_CONFIG))
    roles, stray = _plan_roles(client, path, method, _existing_roles(client, path) if have is not None else set())
    return out + roles, stray


def _plan_auth(client: hvac.Client, cfg: VaultConfig) -> tuple[list[Change], list[Unmanaged]]:
    mounts = dict(client.sys.list_auth_methods().get("data") or {})
    out: list[Change] = []
    stray: list[Unmanaged] = []
    for path, method in cfg.auth.items():
        changes, unmanaged = _plan_method(client, path, method, mounts.get(path + "/"))
        out += changes
        stray += unmanaged
    managed = {p + "/" for p in cfg.auth}
    stray += [
        Unmanaged("auth", f"{(mounts[k] or {}).get('type', '?')} auth method", k)
        for k in sorted(set(mounts) - managed - PROTECTED_AUTH_METHODS)
    ]
    return out, stray
