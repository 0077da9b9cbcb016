"""The platform's desired Vault configuration, built as a ``hardening/v2`` document (``document``).

- ``platform_config(workloads=[Workload(...)], ci=[CiAccess(...)])`` builds it (least privilege: a
  workload reads ``<kv>/data/apps/<name>/*`` only, through a Kubernetes role bound to exactly its service
  account in its namespace; a CI repository's job in GitHub environment ``<env>`` logs in with JWT role
  ``ci-<repo>-<env>`` (``ci_role_name``) and reads ``<kv>/data/ci/<repo>/<env>/*`` only; previews only on
  ``pull_request``).
- ``render_document(cfg)`` gives the YAML (or JSON) document the SecretsVault component puts in a
  ConfigMap and ``python -m tools.vault reconcile --config`` applies; ``load_document(text)`` /
  ``from_document(data)`` validate one (``components.vault.document``: schema and per-section checks).

The roles, policies, mounts and audit devices are the Vault API's own bodies (see ``document``); this
module only decides their values. It contains no secret.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.vault import policy_hcl
from components.vault.document import (
    API_VERSION,
    KIND,
    VaultConfig,
    convert_text,
    from_document,
    load_document,
    render_document,
    to_document,
    validate,
)
from components.vault.document import audit as audit_section
from components.vault.document import auth as auth_section
from components.vault.document import secrets as secrets_section
from components.vault.document.auth import GITHUB_OIDC_ISSUER
from components.vault.document.base import ConfigurationError, format_duration, parse_duration
from components.vault.document.secrets import DEFAULT_ROTATION_PERIOD, ROTATION_METADATA_KEY

__all__ = [
    "API_VERSION",
    "DEFAULT_ROTATION_PERIOD",
    "GITHUB_OIDC_ISSUER",
    "KIND",
    "ROTATION_METADATA_KEY",
    "ConfigurationError",
    "VaultConfig",
    "convert_text",
    "format_duration",
    "from_document",
    "load_document",
    "parse_duration",
    "render_document",
    "to_document",
    "validate",
]

APPS_PREFIX = "apps"
CI_PREFIX = "ci"

_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_REPO = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")


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
    audience: str = ""  # when set, the service account token must carry this audience (Vault Agent: vault)


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
    audience: str = "",
) -> dict[str, Any]:
    """One role per workload (the body of ``auth/kubernetes/role/<app>``): bound to exactly its service
    account in exactly its namespace, with its own policy ``app-<app>``."""
    return auth_section.kubernetes_role(
        service_account or app,
        namespace,
        list(policies or (app_policy_name(app),)),
        token_ttl=token_ttl,
        audience=audience,
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


def ci_access(access: CiAccess, *, kv_mount: str = "secret") -> tuple[dict[str, str], dict[str, Any]]:
    """Per environment one read-only policy and one JWT role bound to the repository, the environment, the
    branch and the events; the preview role, for pull requests, also lives shorter (10 min)."""
    policies: dict[str, str] = {}
    roles: dict[str, Any] = {}
    for env in access.environments:
        name = ci_role_name(access.name, env)
        prefix = f"{CI_PREFIX}/{access.name}/{env}"
        policies[name] = policy_hcl.ci_read_policy(mount=kv_mount, prefix=prefix, name=name)
        short = env == PREVIEW
        roles[name] = auth_section.jwt_role(
            [name],
            [f"https://github.com/{access.owner}"],
            ci_claims(access, env),
            bound_claims_type="glob" if short else "string",
            token_ttl="5m" if short else "15m",
            token_max_ttl="10m" if short else "30m",
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
    audit_file: str = audit_section.DEFAULT_FILE,
) -> VaultConfig:
    """The platform's Vault configuration: each workload reads its own KV path through Kubernetes auth;
    each CI repository gets per GitHub environment a role and a policy reading only that environment's
    ``ci/<name>/<environment>/*`` through GitHub OIDC. Pure; ``ConfigurationError`` names every bad input.

    ``rotation_period`` accepts ``90d`` as well as ``2160h``; it is stored in hours.
    """
    _check_inputs(workloads, ci)
    policies = {
        app_policy_name(w.name): policy_hcl.app_read_policy(w.name, mount=kv_mount, prefix=APPS_PREFIX)
        for w in workloads
    }
    roles = {
        w.name: kubernetes_role(w.name, w.namespace, service_account=w.service_account, audience=w.audience)
        for w in workloads
    }
    jwt_roles: dict[str, Any] = {}
    for access in ci:
        pols, jroles = ci_access(access, kv_mount=kv_mount)
        policies |= pols
        jwt_roles |= jroles
    try:
        period = format_duration(parse_duration(rotation_period))
    except ValueError:
        period = rotation_period  # reported by validate() below, with the field name
    auth = {"kubernetes": auth_section.kubernetes_method(roles)}
    if jwt_roles:
        auth["jwt"] = auth_section.jwt_method(jwt_roles)
    cfg = VaultConfig(
        secrets={kv_mount: secrets_section.kv_mount(max_versions=max_versions, rotation_period=period)},
        policies=policies,
        auth=auth,
        audit={"file": audit_section.file_device(audit_file)},
    )
    validate(cfg)
    return cfg


# --------------------------------------------------------------------------------------------------
# Facts other parts need (stack outputs, the app's and CI's wiring)
# --------------------------------------------------------------------------------------------------
def app_secret_path(app: str, name: str = "", *, mount: str = "secret") -> str:
    """The KV v2 API path an app reads: ``secret/data/apps/<app>[/<name>]``."""
    return policy_hcl.kv_data_path(mount, APPS_PREFIX, app, name)


def outputs(cfg: VaultConfig) -> dict[str, Any]:
    """Auth mount and role names other teams need (as a stack output)."""
    out: dict[str, Any] = {"kv_mount": cfg.kv_mount, "rotation_period": cfg.rotation_period}
    for path, method in cfg.auth.items():
        out[f"{method['type']}_auth_path"] = path
        out[f"{method['type']}_roles"] = list(method.get("roles", {}))
    return out
