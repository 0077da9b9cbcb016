"""The whole desired Vault configuration as one data structure (in the spirit of Bank-Vaults' configurer).

``VaultConfig`` holds the KV v2 mount (version limit, default ``rotation_period`` custom metadata),
the auth methods (Kubernetes: one role per workload bound to its service account and namespace; JWT for
GitHub Actions OIDC: bound to the issuer, audiences, repository and branch/environment), the ACL
policies (HCL from ``policy_hcl``), and the file audit device. It contains no secret.

- ``platform_config(workloads=[Workload(...)], ci=[CiAccess(...)])`` builds the platform's configuration
  (least privilege: a workload reads ``<kv>/data/apps/<name>/*`` only; a CI repository's job in GitHub
  environment ``<env>`` logs in with role ``ci-<repo>-<env>`` (``ci_role_name``) and reads
  ``<kv>/data/ci/<repo>/<env>/*`` only; previews only on ``pull_request``).
- ``render_document(cfg)`` gives the YAML (or JSON) document the SecretsVault component puts in a
  ConfigMap and ``python -m tools.vault reconcile --config`` applies.
- ``load_document(text)`` / ``from_document(data)`` parse and validate such a document; every problem
  (unknown key, unknown auth type, bad HCL, undefined policy, bad duration...) is reported at once in
  a ``ConfigurationError`` naming the field (``auth[1].roles[0].bound_claims``) and what is accepted.

Document shape::

    apiVersion: hardening/v1
    kind: VaultConfiguration
    kv: {path: secret, max_versions: 10, rotation_period: 2160h, cas_required: false}
    policies: [{name: app-orders-api, hcl: "path ..."}]
    auth:
      - {type: kubernetes, path: kubernetes, config: {kubernetes_host: ...}, roles: [...]}
      - {type: jwt, path: jwt, config: {bound_issuer: ..., oidc_discovery_url: ...}, roles: [...]}
    audit: [{type: file, path: file, file_path: /vault/audit/audit.log}]
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from components import yamltext
from components.vault import policy_hcl
from components.vault.policy_hcl import PolicyError

API_VERSION = "hardening/v1"
KIND = "VaultConfiguration"
GITHUB_OIDC_ISSUER = "https://token.actions.githubusercontent.com"
DEFAULT_ROTATION_PERIOD = "2160h"  # 90 days
ROTATION_METADATA_KEY = "rotation_period"
APPS_PREFIX = "apps"
CI_PREFIX = "ci"
AUTH_TYPES = ("jwt", "kubernetes")
AUDIT_TYPES = ("file",)

_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")
_MOUNT = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_REPO = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")


class ConfigurationError(ValueError):
    """Invalid Vault configuration; ``problems`` holds one message per problem, each naming its field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid Vault configuration ({len(problems)} problem(s)):\n{lines}")


def parse_duration(value: str) -> float:
    """Seconds in a Go-style duration (``2160h``, ``90d``, ``1h30m``, ``45s``); ``ValueError`` otherwise."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{value!r} is not a duration")
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(value):
        if m.start() != pos:
            break
        total += int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(value):
        raise ValueError(f"{value!r} is not a duration")
    return total


def format_duration(seconds: float) -> str:
    """``2160h`` style (hours when whole, else seconds): what Vault and the rotation report print."""
    s = int(seconds)
    return f"{s // 3600}h" if s % 3600 == 0 and s else f"{s}s"


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KvMount:
    path: str = "secret"
    max_versions: int = 10
    rotation_period: str = DEFAULT_ROTATION_PERIOD
    cas_required: bool = False
    description: str = "Application and CI secrets (KV v2)"


@dataclass(frozen=True)
class Policy:
    name: str
    hcl: str


@dataclass(frozen=True)
class KubernetesRole:
    name: str
    service_account: str
    namespace: str
    policies: tuple[str, ...]
    token_ttl: str = "1h"  # noqa: S105 - a duration, not a password
    token_max_ttl: str = "4h"  # noqa: S105
    audience: str = ""  # when set, the service account token must carry this audience


@dataclass(frozen=True)
class KubernetesAuth:
    path: str = "kubernetes"
    kubernetes_host: str = "https://kubernetes.default.svc"
    kubernetes_ca_cert: str = ""  # empty: Vault uses its pod's service account CA (in-cluster)
    roles: tuple[KubernetesRole, ...] = ()
    type: str = "kubernetes"


@dataclass(frozen=True)
class JwtRole:
    name: str
    policies: tuple[str, ...]
    bound_audiences: tuple[str, ...]
    bound_claims: Mapping[str, tuple[str, ...]]
    user_claim: str = "sub"
    bound_claims_type: str = "string"
    token_ttl: str = "15m"  # noqa: S105 - a duration, not a password
    token_max_ttl: str = "30m"  # noqa: S105


@dataclass(frozen=True)
class JwtAuth:
    path: str = "jwt"
    bound_issuer: str = GITHUB_OIDC_ISSUER
    oidc_discovery_url: str = GITHUB_OIDC_ISSUER
    jwt_validation_pubkeys: tuple[str, ...] = ()  # instead of discovery (offline or tests)
    roles: tuple[JwtRole, ...] = ()
    type: str = "jwt"


AuthMethod = KubernetesAuth | JwtAuth


@dataclass(frozen=True)
class FileAudit:
    path: str = "file"
    file_path: str = "/vault/audit/audit.log"
    description: str = "File audit log"
    type: str = "file"


@dataclass(frozen=True)
class VaultConfig:
    kv: KvMount = field(default_factory=KvMount)
    policies: tuple[Policy, ...] = ()
    auth: tuple[AuthMethod, ...] = ()
    audit: tuple[FileAudit, ...] = (FileAudit(),)

    def policy_names(self) -> list[str]:
        return [p.name for p in self.policies]

    def auth_by_path(self, path: str) -> AuthMethod | None:
        return next((a for a in self.auth if a.path == path), None)


# --------------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------------
def app_policy_name(app: str) -> str:
    return f"app-{app}"


# GitHub deployment environments CI logs in from, and the events that may use each one: deploys run on
# push and rollbacks on workflow_dispatch; previews on pull_request only (pull_request_target, which runs a
# fork's pull request with the base repository's rights, gets nothing).
PRODUCTION, STAGING, PREVIEW = "production", "staging", "preview"
CI_ENVIRONMENTS = (PRODUCTION, STAGING, PREVIEW)
DEPLOY_EVENTS = ("push", "workflow_dispatch")
PREVIEW_EVENTS = ("pull_request",)
PREVIEW_REF = "refs/pull/*/merge"  # the merge ref GitHub checks out for a pull request (glob)
_REF = re.compile(r"^refs/heads/[A-Za-z0-9._/-]{1,200}$")


@dataclass(frozen=True)
class Workload:
    """A workload reading its secrets: Kubernetes role ``<name>``, policy ``app-<name>`` reading
    ``<kv>/data/apps/<name>/*``, bound to exactly its service account in exactly its namespace."""

    name: str
    namespace: str
    service_account: str


@dataclass(frozen=True)
class CiAccess:
    """A CI repository (``owner/name``): per environment a JWT role and a policy, both named
    ``ci-<name>-<environment>``, reading ``<kv>/data/ci/<name>/<environment>/*`` only."""

    repository: str
    environments: tuple[str, ...] = CI_ENVIRONMENTS
    production_ref: str = "refs/heads/main"
    staging_ref: str = "refs/heads/staging"

    @property
    def name(self) -> str:
        return self.repository.split("/", 1)[-1].lower()

    @property
    def owner(self) -> str:
        return self.repository.split("/", 1)[0]


def ci_role_name(repository_name: str, environment: str) -> str:
    """The JWT role (and policy) a CI job of repository ``repository_name`` (no owner) uses in a GitHub
    ``environment``: ``ci-<name>-<environment>``. ``environment`` may be a workflow expression."""
    return f"ci-{repository_name.lower()}-{environment}"


def ci_secret_path(repository_name: str, environment: str, *, mount: str = "secret") -> str:
    """The KV v2 API path under which a CI environment's secrets live: ``secret/data/ci/<name>/<env>``."""
    return policy_hcl.kv_data_path(mount, CI_PREFIX, repository_name.lower(), environment)


def kubernetes_role(
    app: str,
    namespace: str,
    *,
    service_account: str | None = None,
    policies: Sequence[str] | None = None,
    token_ttl: str = "1h",  # noqa: S107 - a duration
) -> KubernetesRole:
    """One role per workload: bound to exactly its service account in exactly its namespace."""
    return KubernetesRole(
        name=app,
        service_account=service_account or app,
        namespace=namespace,
        policies=tuple(policies or (app_policy_name(app),)),
        token_ttl=token_ttl,
    )


def ci_claims(access: CiAccess, environment: str) -> dict[str, tuple[str, ...]]:
    """The GitHub OIDC claims a job must carry to use ``environment``'s role."""
    claims: dict[str, tuple[str, ...]] = {"repository": (access.repository,), "environment": (environment,)}
    if environment == PRODUCTION:
        claims |= {"ref": (access.production_ref,), "event_name": DEPLOY_EVENTS}
    elif environment == STAGING:
        claims |= {"ref": (access.staging_ref,), "event_name": DEPLOY_EVENTS}
    else:
        claims |= {"ref": (PREVIEW_REF,), "event_name": PREVIEW_EVENTS}
    return claims


def ci_access(access: CiAccess, *, kv_mount: str = "secret") -> tuple[list[Policy], list[JwtRole]]:
    """Per environment one read-only policy and one JWT role bound to the repository, the environment, the
    branch and the events; the preview role, for pull requests, also lives shorter (10 min)."""
    policies: list[Policy] = []
    roles: list[JwtRole] = []
    for env in access.environments:
        name = ci_role_name(access.name, env)
        policies.append(
            Policy(
                name, policy_hcl.ci_read_policy(mount=kv_mount, prefix=f"{CI_PREFIX}/{access.name}/{env}", name=name)
            )
        )
        short = env == PREVIEW
        roles.append(
            JwtRole(
                name=name,
                policies=(name,),
                bound_audiences=(f"https://github.com/{access.owner}",),
                bound_claims=ci_claims(access, env),
                bound_claims_type="glob" if short else "string",
                token_ttl="5m" if short else "15m",
                token_max_ttl="10m" if short else "30m",
            )
        )
    return policies, roles


def _check_inputs(workloads: Sequence[Workload], ci: Sequence[CiAccess]) -> None:
    problems: list[str] = []
    names: set[str] = set()
    for i, w in enumerate(workloads):
        for key, pattern in (("name", _NAME), ("namespace", _DNS_LABEL), ("service_account", _DNS_LABEL)):
            value = getattr(w, key)
            if not isinstance(value, str) or not pattern.match(value):
                problems.append(f"workloads[{i}].{key}: {value!r}; accepted: a DNS-1123 label such as orders-api")
        if w.name in names:
            problems.append(f"workloads[{i}].name: {w.name!r} appears twice; accepted: one entry per workload")
        names.add(w.name)
    repo_names: set[str] = set()
    for i, c in enumerate(ci):
        if not isinstance(c.repository, str) or not _REPO.match(c.repository):
            problems.append(f"ci[{i}].repository: {c.repository!r}; accepted: owner/name")
            continue
        if not _DNS_LABEL.match(c.name):
            problems.append(
                f"ci[{i}].repository: {c.repository!r}; accepted: a name of lower-case letters, digits and '-' "
                "(it names the Vault roles ci-<name>-<environment>)"
            )
        if c.name in repo_names:
            problems.append(f"ci[{i}].repository: {c.repository!r}: another entry has the name {c.name!r}")
        repo_names.add(c.name)
        envs = c.environments
        if not isinstance(envs, tuple) or not envs or len(set(envs)) != len(envs) or set(envs) - set(CI_ENVIRONMENTS):
            problems.append(
                f"ci[{i}].environments: {envs!r}; accepted: a non-empty tuple of distinct {', '.join(CI_ENVIRONMENTS)}"
            )
        for key in ("production_ref", "staging_ref"):
            value = getattr(c, key)
            if not isinstance(value, str) or not _REF.match(value):
                problems.append(f"ci[{i}].{key}: {value!r}; accepted: a branch ref such as refs/heads/main")
    if problems:
        raise ConfigurationError(problems)


def platform_config(
    *,
    workloads: Sequence[Workload],
    ci: Sequence[CiAccess],
    kv_mount: str = "secret",
    max_versions: int = 10,
    rotation_period: str = DEFAULT_ROTATION_PERIOD,
    audit_file: str = "/vault/audit/audit.log",
) -> VaultConfig:
    """The platform's Vault configuration: each workload reads its own KV path through Kubernetes auth;
    each CI repository gets per GitHub environment a role and a policy reading only that environment's
    ``ci/<name>/<environment>/*`` through GitHub OIDC. Pure; ``ConfigurationError`` names every bad input.

    ``rotation_period`` accepts ``90d`` as well as ``2160h``; it is stored in hours.
    """
    _check_inputs(workloads, ci)
    policies = [
        Policy(app_policy_name(w.name), policy_hcl.app_read_policy(w.name, mount=kv_mount, prefix=APPS_PREFIX))
        for w in workloads
    ]
    roles = tuple(kubernetes_role(w.name, w.namespace, service_account=w.service_account) for w in workloads)
    jwt_roles: list[JwtRole] = []
    for access in ci:
        pols, jroles = ci_access(access, kv_mount=kv_mount)
        policies += pols
        jwt_roles += jroles
    try:
        period = format_duration(parse_duration(rotation_period))
    except ValueError:
        period = rotation_period  # reported by validate() below, with the field name
    auth: list[AuthMethod] = [KubernetesAuth(roles=roles)]
    if jwt_roles:
        auth.append(JwtAuth(roles=tuple(jwt_roles)))
    cfg = VaultConfig(
        kv=KvMount(path=kv_mount, max_versions=max_versions, rotation_period=period),
        policies=tuple(policies),
        auth=tuple(auth),
        audit=(FileAudit(file_path=audit_file),),
    )
    validate(cfg)
    return cfg


# --------------------------------------------------------------------------------------------------
# Document <-> data
# --------------------------------------------------------------------------------------------------
def _auth_doc(a: AuthMethod) -> dict[str, Any]:
    if isinstance(a, KubernetesAuth):
        config: dict[str, Any] = {"kubernetes_host": a.kubernetes_host}
        if a.kubernetes_ca_cert:
            config["kubernetes_ca_cert"] = a.kubernetes_ca_cert
        roles = [
            {
                "name": r.name,
                "service_account": r.service_account,
                "namespace": r.namespace,
                "policies": list(r.policies),
                "token_ttl": r.token_ttl,
                "token_max_ttl": r.token_max_ttl,
                **({"audience": r.audience} if r.audience else {}),
            }
            for r in a.roles
        ]
        return {"type": "kubernetes", "path": a.path, "config": config, "roles": roles}
    config = {"bound_issuer": a.bound_issuer}
    if a.jwt_validation_pubkeys:
        config["jwt_validation_pubkeys"] = list(a.jwt_validation_pubkeys)
    else:
        config["oidc_discovery_url"] = a.oidc_discovery_url
    jroles = [
        {
            "name": r.name,
            "policies": list(r.policies),
            "bound_audiences": list(r.bound_audiences),
            "bound_claims": {k: list(v) for k, v in r.bound_claims.items()},
            "bound_claims_type": r.bound_claims_type,
            "user_claim": r.user_claim,
            "token_ttl": r.token_ttl,
            "token_max_ttl": r.token_max_ttl,
        }
        for r in a.roles
    ]
    return {"type": "jwt", "path": a.path, "config": config, "roles": jroles}


def to_document(cfg: VaultConfig) -> dict[str, Any]:
    """Plain, JSON-serialisable document for ``cfg`` (stable key order)."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "kv": {
            "path": cfg.kv.path,
            "max_versions": cfg.kv.max_versions,
            "rotation_period": cfg.kv.rotation_period,
            "cas_required": cfg.kv.cas_required,
            "description": cfg.kv.description,
        },
        "policies": [{"name": p.name, "hcl": p.hcl} for p in cfg.policies],
        "auth": [_auth_doc(a) for a in cfg.auth],
        "audit": [
            {"type": d.type, "path": d.path, "file_path": d.file_path, "description": d.description} for d in cfg.audit
        ],
    }


def render_document(cfg: VaultConfig, fmt: str = "yaml") -> str:
    """The configuration document as YAML (policies as literal blocks) or JSON; validated first."""
    validate(cfg)
    doc = to_document(cfg)
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    if fmt != "yaml":
        raise ValueError(f"fmt: {fmt!r}; accepted: yaml, json")
    header = (
        "# Desired Vault configuration, rendered by components/vault/declarative.py; applied by\n"
        "# `python -m tools.vault reconcile --config <this file>`. Contains no secret.\n"
    )
    return header + yamltext.dump(doc, width=1000)


def load_document(text: str) -> VaultConfig:
    """Parse a YAML or JSON document and validate it (``ConfigurationError`` lists every problem)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigurationError([f"document: not valid YAML/JSON{where}: {problem}"]) from None
    return from_document(data)


def validate(cfg: VaultConfig) -> None:
    """Validate a ``VaultConfig`` built in code (same checks as a loaded document)."""
    from_document(to_document(cfg))


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, where: str, msg: str) -> None:
        self.problems.append(f"{where}: {msg}")

    def mapping(self, value: Any, where: str, required: Sequence[str], optional: Sequence[str] = ()) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            self.add(where, f"expected a mapping, got {type(value).__name__}")
            return {}
        allowed = (*required, *optional)
        for key in value:
            if key not in allowed:
                self.add(f"{where}.{key}" if where else str(key), f"unknown key; accepted: {', '.join(allowed)}")
        for key in required:
            if key not in value:
                self.add(f"{where}.{key}" if where else key, "missing (required)")
        return dict(value)

    def string(self, value: Any, where: str, pattern: re.Pattern[str] | None = None, accepted: str = "") -> str:
        if not isinstance(value, str) or not value:
            self.add(where, f"{value!r}; accepted: {accepted or 'a non-empty string'}")
            return ""
        if pattern is not None and not pattern.match(value):
            self.add(where, f"{value!r}; accepted: {accepted}")
            return ""
        return value

    def strings(self, value: Any, where: str, *, non_empty: bool = True) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.add(where, f"{value!r}; accepted: a list of non-empty strings")
            return ()
        if non_empty and not value:
            self.add(where, "empty; accepted: at least one value")
        return tuple(value)

    def duration(self, value: Any, where: str, *, minimum: float = 1, maximum: float = 10 * 365 * 86400) -> str:
        try:
            seconds = parse_duration(value)
        except ValueError:
            self.add(where, f"{value!r}; accepted: a duration such as 15m, 1h, 2160h or 90d")
            return ""
        if not minimum <= seconds <= maximum:
            self.add(where, f"{value!r}; accepted: between {format_duration(minimum)} and {format_duration(maximum)}")
            return ""
        return str(value)

    def integer(self, value: Any, where: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.add(where, f"{value!r}; accepted: an integer from {lo} to {hi}")
            return lo
        return value


def from_document(data: Any) -> VaultConfig:
    """Validate a parsed document and build the ``VaultConfig``; ``ConfigurationError`` lists every problem."""
    c = _Checker()
    doc = c.mapping(data, "", ("apiVersion", "kind"), ("kv", "policies", "auth", "audit"))
    if doc.get("apiVersion", API_VERSION) != API_VERSION:
        c.add("apiVersion", f"{doc['apiVersion']!r}; accepted: {API_VERSION}")
    if doc.get("kind", KIND) != KIND:
        c.add("kind", f"{doc['kind']!r}; accepted: {KIND}")

    kvd = c.mapping(
        doc.get("kv", {}), "kv", (), ("path", "max_versions", "rotation_period", "cas_required", "description")
    )
    kv = KvMount(
        path=c.string(kvd.get("path", "secret"), "kv.path", _MOUNT, "a mount name such as secret"),
        max_versions=c.integer(kvd.get("max_versions", 10), "kv.max_versions", 1, 1000),
        rotation_period=c.duration(kvd.get("rotation_period", DEFAULT_ROTATION_PERIOD), "kv.rotation_period"),
        cas_required=bool(kvd.get("cas_required", False)),
        description=str(kvd.get("description", KvMount.description)),
    )
    if not isinstance(kvd.get("cas_required", False), bool):
        c.add("kv.cas_required", f"{kvd['cas_required']!r}; accepted: true or false")

    policies: list[Policy] = []
    broken_policies: set[str] = set()  # named but invalid: reported once, not again where referenced
    raw_policies = doc.get("policies", [])
    if not isinstance(raw_policies, list):
        c.add("policies", "expected a list of {name, hcl}")
        raw_policies = []
    for i, raw in enumerate(raw_policies):
        where = f"policies[{i}]"
        p = c.mapping(raw, where, ("name", "hcl"))
        name = p.get("name")
        try:
            policy_hcl.check_policy_name(name)  # type: ignore[arg-type]
        except PolicyError as exc:
            c.add(f"{where}.name", str(exc))
            continue
        if name in [q.name for q in policies]:
            c.add(f"{where}.name", f"{name!r} is defined twice")
            continue
        text = p.get("hcl")
        try:
            rules = policy_hcl.parse_policy(text, name=name)  # type: ignore[arg-type]
        except PolicyError as exc:
            c.add(f"{where}.hcl", str(exc))
            broken_policies.add(str(name))
            continue
        for rule in rules:
            if rule.path in ("*", "+", "+/*") and "deny" not in rule.capabilities:
                c.add(
                    f"{where}.hcl",
                    f"policy {name!r} grants {list(rule.capabilities)} on every path "
                    f"({rule.path!r}); accepted: paths scoped to what the holder needs",
                )
        policies.append(Policy(str(name), str(text)))
    known_policies = {p.name for p in policies} | {"default"}

    def check_refs(names: tuple[str, ...], where: str) -> None:
        for n in names:
            if n not in known_policies and n not in broken_policies:
                c.add(
                    where,
                    f"policy {n!r} is not defined in policies; defined: {', '.join(sorted(known_policies)) or 'none'}",
                )

    auth: list[AuthMethod] = []
    raw_auth = doc.get("auth", [])
    if not isinstance(raw_auth, list):
        c.add("auth", "expected a list of auth methods")
        raw_auth = []
    paths: set[str] = set()
    for i, raw in enumerate(raw_auth):
        where = f"auth[{i}]"
        if not isinstance(raw, Mapping):
            c.add(where, "expected a mapping with type, path, config, roles")
            continue
        typ = raw.get("type")
        if typ not in AUTH_TYPES:
            c.add(f"{where}.type", f"{typ!r} is not a supported auth type; accepted: {', '.join(AUTH_TYPES)}")
            continue
        a = c.mapping(raw, where, ("type",), ("path", "config", "roles"))
        path = c.string(a.get("path", typ), f"{where}.path", _MOUNT, "a mount name such as kubernetes or jwt")
        if path in paths:
            c.add(f"{where}.path", f"{path!r} is used by two auth methods")
        paths.add(path)
        raw_roles = a.get("roles", [])
        if not isinstance(raw_roles, list):
            c.add(f"{where}.roles", "expected a list of roles")
            raw_roles = []
        role_names: set[str] = set()
        if typ == "kubernetes":
            cfgd = c.mapping(a.get("config", {}), f"{where}.config", (), ("kubernetes_host", "kubernetes_ca_cert"))
            host = c.string(
                cfgd.get("kubernetes_host", KubernetesAuth.kubernetes_host),
                f"{where}.config.kubernetes_host",
                re.compile(r"^https://\S+$"),
                "an https URL",
            )
            ca = cfgd.get("kubernetes_ca_cert", "")
            if ca and (not isinstance(ca, str) or "BEGIN CERTIFICATE" not in ca):
                c.add(f"{where}.config.kubernetes_ca_cert", "accepted: a PEM certificate, or empty (in-cluster)")
                ca = ""
            kroles: list[KubernetesRole] = []
            for j, rr in enumerate(raw_roles):
                rw = f"{where}.roles[{j}]"
                r = c.mapping(
                    rr,
                    rw,
                    ("name", "service_account", "namespace", "policies"),
                    ("token_ttl", "token_max_ttl", "audience"),
                )
                name = c.string(r.get("name"), f"{rw}.name", _NAME, "a role name (lower-case, digits, . _ -)")
                if name and name in role_names:
                    c.add(f"{rw}.name", f"{name!r} is defined twice")
                role_names.add(name)
                sa = r.get("service_account")
                if sa == "*" or (isinstance(sa, list) and "*" in sa):
                    c.add(
                        f"{rw}.service_account",
                        "'*' would let every service account in; accepted: one service account name",
                    )
                    sa = ""
                else:
                    sa = c.string(sa, f"{rw}.service_account", _DNS_LABEL, "one service account name")
                ns = r.get("namespace")
                if ns == "*":
                    c.add(f"{rw}.namespace", "'*' would let every namespace in; accepted: one namespace name")
                    ns = ""
                else:
                    ns = c.string(ns, f"{rw}.namespace", _DNS_LABEL, "one namespace name")
                pols = c.strings(r.get("policies"), f"{rw}.policies")
                check_refs(pols, f"{rw}.policies")
                ttl = c.duration(r.get("token_ttl", "1h"), f"{rw}.token_ttl", minimum=60, maximum=86400)
                max_ttl = c.duration(r.get("token_max_ttl", "4h"), f"{rw}.token_max_ttl", minimum=60, maximum=7 * 86400)
                if ttl and max_ttl and parse_duration(ttl) > parse_duration(max_ttl):
                    c.add(f"{rw}.token_ttl", f"{ttl} is longer than token_max_ttl {max_ttl}")
                aud = r.get("audience", "")
                if not isinstance(aud, str):
                    c.add(f"{rw}.audience", "accepted: a string")
                    aud = ""
                kroles.append(KubernetesRole(name, sa, ns, pols, ttl, max_ttl, aud))
            auth.append(
                KubernetesAuth(path=path, kubernetes_host=host, kubernetes_ca_cert=str(ca or ""), roles=tuple(kroles))
            )
        else:
            cfgd = c.mapping(
                a.get("config", {}),
                f"{where}.config",
                ("bound_issuer",),
                ("oidc_discovery_url", "jwt_validation_pubkeys"),
            )
            issuer = c.string(
                cfgd.get("bound_issuer"),
                f"{where}.config.bound_issuer",
                re.compile(r"^https://\S+$"),
                f"an https issuer URL such as {GITHUB_OIDC_ISSUER}",
            )
            has_disc, has_keys = "oidc_discovery_url" in cfgd, "jwt_validation_pubkeys" in cfgd
            disc = ""
            keys: tuple[str, ...] = ()
            if has_disc == has_keys:
                c.add(f"{where}.config", "set exactly one of oidc_discovery_url or jwt_validation_pubkeys")
            elif has_disc:
                disc = c.string(
                    cfgd["oidc_discovery_url"],
                    f"{where}.config.oidc_discovery_url",
                    re.compile(r"^https://\S+$"),
                    "an https URL",
                )
            else:
                keys = c.strings(cfgd["jwt_validation_pubkeys"], f"{where}.config.jwt_validation_pubkeys")
                for k, pem in enumerate(keys):
                    if "BEGIN PUBLIC KEY" not in pem and "BEGIN CERTIFICATE" not in pem:
                        c.add(f"{where}.config.jwt_validation_pubkeys[{k}]", "accepted: a PEM public key")
            jroles: list[JwtRole] = []
            for j, rr in enumerate(raw_roles):
                rw = f"{where}.roles[{j}]"
                r = c.mapping(
                    rr,
                    rw,
                    ("name", "policies", "bound_audiences", "bound_claims"),
                    ("user_claim", "bound_claims_type", "token_ttl", "token_max_ttl"),
                )
                name = c.string(r.get("name"), f"{rw}.name", _NAME, "a role name (lower-case, digits, . _ -)")
                if name and name in role_names:
                    c.add(f"{rw}.name", f"{name!r} is defined twice")
                role_names.add(name)
                pols = c.strings(r.get("policies"), f"{rw}.policies")
                check_refs(pols, f"{rw}.policies")
                auds = c.strings(r.get("bound_audiences"), f"{rw}.bound_audiences")
                claims_raw = r.get("bound_claims")
                claims: dict[str, tuple[str, ...]] = {}
                if not isinstance(claims_raw, Mapping) or not claims_raw:
                    c.add(f"{rw}.bound_claims", "accepted: a mapping of claim -> value or list of values")
                else:
                    for ck, cv in claims_raw.items():
                        claims[str(ck)] = c.strings(cv, f"{rw}.bound_claims.{ck}")
                    if issuer == GITHUB_OIDC_ISSUER:
                        if "repository" not in claims:
                            c.add(
                                f"{rw}.bound_claims",
                                "GitHub tokens must be bound to a repository (claim 'repository: owner/name')",
                            )
                        elif not all(_REPO.match(v) for v in claims["repository"]):
                            c.add(
                                f"{rw}.bound_claims.repository", f"{list(claims['repository'])}; accepted: owner/name"
                            )
                        if not ({"ref", "environment"} & claims.keys()):
                            c.add(
                                f"{rw}.bound_claims",
                                "GitHub tokens must also be bound to a branch ('ref') or a deployment 'environment'",
                            )
                ctype = r.get("bound_claims_type", "string")
                if ctype not in ("string", "glob"):
                    c.add(f"{rw}.bound_claims_type", f"{ctype!r}; accepted: string, glob")
                    ctype = "string"
                user_claim = c.string(r.get("user_claim", "sub"), f"{rw}.user_claim")
                ttl = c.duration(r.get("token_ttl", "15m"), f"{rw}.token_ttl", minimum=60, maximum=86400)
                max_ttl = c.duration(r.get("token_max_ttl", "30m"), f"{rw}.token_max_ttl", minimum=60, maximum=86400)
                if ttl and max_ttl and parse_duration(ttl) > parse_duration(max_ttl):
                    c.add(f"{rw}.token_ttl", f"{ttl} is longer than token_max_ttl {max_ttl}")
                jroles.append(JwtRole(name, pols, auds, claims, user_claim, ctype, ttl, max_ttl))
            auth.append(
                JwtAuth(
                    path=path,
                    bound_issuer=issuer,
                    oidc_discovery_url=disc or GITHUB_OIDC_ISSUER,
                    jwt_validation_pubkeys=keys,
                    roles=tuple(jroles),
                )
            )

    audit: list[FileAudit] = []
    raw_audit = doc.get("audit", [])
    if not isinstance(raw_audit, list):
        c.add("audit", "expected a list of audit devices")
        raw_audit = []
    audit_paths: set[str] = set()
    for i, raw in enumerate(raw_audit):
        where = f"audit[{i}]"
        typ = raw.get("type") if isinstance(raw, Mapping) else None
        if typ not in AUDIT_TYPES:
            c.add(f"{where}.type", f"{typ!r} is not a supported audit device type; accepted: {', '.join(AUDIT_TYPES)}")
            continue
        d = c.mapping(raw, where, ("type", "file_path"), ("path", "description"))
        path = c.string(d.get("path", "file"), f"{where}.path", _MOUNT, "a device path such as file")
        if path in audit_paths:
            c.add(f"{where}.path", f"{path!r} is used twice")
        audit_paths.add(path)
        fpath = c.string(
            d.get("file_path"),
            f"{where}.file_path",
            re.compile(r"^(/[^\s\"]+|stdout)$"),
            "an absolute file path or stdout",
        )
        audit.append(FileAudit(path=path, file_path=fpath, description=str(d.get("description", "File audit log"))))

    if c.problems:
        raise ConfigurationError(c.problems)
    return VaultConfig(kv=kv, policies=tuple(policies), auth=tuple(auth), audit=tuple(audit))


# --------------------------------------------------------------------------------------------------
# Facts other parts need (stack outputs, the app's and CI's wiring)
# --------------------------------------------------------------------------------------------------
def app_secret_path(app: str, name: str = "", *, mount: str = "secret") -> str:
    """The KV v2 API path an app reads: ``secret/data/apps/<app>[/<name>]``."""
    return policy_hcl.kv_data_path(mount, APPS_PREFIX, app, name)


def outputs(cfg: VaultConfig) -> dict[str, Any]:
    """Auth mount and role names other teams need (as a stack output)."""
    out: dict[str, Any] = {"kv_mount": cfg.kv.path, "rotation_period": cfg.kv.rotation_period}
    for a in cfg.auth:
        out[f"{a.type}_auth_path"] = a.path
        out[f"{a.type}_roles"] = [r.name for r in a.roles]
    return out
