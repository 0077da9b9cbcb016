"""``auth: {<path>: {type, description?, config, roles: {<name>: <body>}}}``.

``config`` is the body of ``auth/<path>/config``; each role the body of ``auth/<path>/role/<name>``, in the
API's own field names, sent as is. Checks the schema cannot express: every ``token_policies`` entry is
defined in ``policies`` (or is ``default``), ``token_ttl`` and ``token_max_ttl`` parse with the duration
parser, lie in range and ``token_ttl <= token_max_ttl``; a JWT method sets exactly one of
``oidc_discovery_url`` and ``jwt_validation_pubkeys``; a role for GitHub's issuer is bound to a repository
and to a branch or environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from components.vault.document.base import Problems, format_duration, path_of, seconds

GITHUB_OIDC_ISSUER = "https://token.actions.githubusercontent.com"
KUBERNETES_HOST = "https://kubernetes.default.svc"
DAY = 86400.0
# token_ttl and token_max_ttl bounds per auth type (seconds): (ttl max, max_ttl max); the minimum is 1m.
TTL_BOUNDS = {"kubernetes": (DAY, 7 * DAY), "jwt": (DAY, DAY)}
MIN_TTL = 60.0
_REPO = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")


# --------------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------------
def kubernetes_method(roles: Mapping[str, Any], *, host: str = KUBERNETES_HOST, ca_cert: str = "") -> dict[str, Any]:
    config: dict[str, Any] = {"kubernetes_host": host, **({"kubernetes_ca_cert": ca_cert} if ca_cert else {})}
    return {"type": "kubernetes", "config": config, "roles": dict(roles)}


def kubernetes_role(
    service_account: str,
    namespace: str,
    policies: Sequence[str],
    *,
    token_ttl: str = "1h",  # noqa: S107 - a duration
    token_max_ttl: str = "4h",  # noqa: S107
    audience: str = "",
) -> dict[str, Any]:
    """The body of ``auth/<path>/role/<name>``: bound to exactly one service account in one namespace."""
    return {
        "bound_service_account_names": [service_account],
        "bound_service_account_namespaces": [namespace],
        **({"audience": audience} if audience else {}),
        "token_policies": list(policies),
        "token_ttl": token_ttl,
        "token_max_ttl": token_max_ttl,
    }


def jwt_method(
    roles: Mapping[str, Any], *, issuer: str = GITHUB_OIDC_ISSUER, discovery_url: str = GITHUB_OIDC_ISSUER
) -> dict[str, Any]:
    return {
        "type": "jwt",
        "config": {"bound_issuer": issuer, "oidc_discovery_url": discovery_url},
        "roles": dict(roles),
    }


def jwt_role(
    policies: Sequence[str],
    bound_audiences: Sequence[str],
    bound_claims: Mapping[str, Sequence[str]],
    *,
    bound_claims_type: str = "string",
    user_claim: str = "sub",
    token_ttl: str = "15m",  # noqa: S107 - a duration
    token_max_ttl: str = "30m",  # noqa: S107
) -> dict[str, Any]:
    """The body of ``auth/<path>/role/<name>`` (JWT)."""
    return {
        "role_type": "jwt",
        "bound_audiences": list(bound_audiences),
        "bound_claims": {k: list(v) for k, v in bound_claims.items()},
        "bound_claims_type": bound_claims_type,
        "user_claim": user_claim,
        "token_policies": list(policies),
        "token_ttl": token_ttl,
        "token_max_ttl": token_max_ttl,
    }


# --------------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------------
def _maps(value: Any) -> list[tuple[str, Mapping[str, Any]]]:
    return [(k, v) for k, v in value.items() if isinstance(v, Mapping)] if isinstance(value, Mapping) else []


def _check_policies(role: Mapping[str, Any], where: str, known: set[str], broken: set[str], p: Problems) -> None:
    names = role.get("token_policies")
    for name in names if isinstance(names, list) else []:
        if name not in known and name not in broken:
            p.add(
                path_of(where, "token_policies"),
                f"policy {name!r} is not defined in policies; defined: {', '.join(sorted(known))}",
            )


def _check_ttls(role: Mapping[str, Any], where: str, kind: str, p: Problems) -> None:
    ttl_max, max_ttl_max = TTL_BOUNDS[kind]
    got: dict[str, float] = {}
    for key, hi in (("token_ttl", ttl_max), ("token_max_ttl", max_ttl_max)):
        if key not in role or (value := seconds(role[key])) is None:
            continue  # absent (Vault's default) or reported by the schema
        if not MIN_TTL <= value <= hi:
            p.add(path_of(where, key), f"{role[key]!r}; accepted: between 60s and {format_duration(hi)}")
        got[key] = value
    if len(got) == 2 and got["token_ttl"] > got["token_max_ttl"]:
        p.add(
            path_of(where, "token_ttl"), f"{role['token_ttl']!r} is longer than token_max_ttl {role['token_max_ttl']!r}"
        )


def _check_github_claims(role: Mapping[str, Any], where: str, p: Problems) -> None:
    claims = role.get("bound_claims")
    if not isinstance(claims, Mapping) or not claims:
        return
    repos = claims.get("repository")
    if repos is None:
        p.add(path_of(where, "bound_claims"), "GitHub tokens must be bound to a repository (claim 'repository')")
    elif not all(isinstance(r, str) and _REPO.match(r) for r in (repos if isinstance(repos, list) else [repos])):
        p.add(path_of(where, "bound_claims", "repository"), f"{repos!r}; accepted: owner/name")
    if not {"ref", "environment"} & set(claims):
        p.add(
            path_of(where, "bound_claims"),
            "GitHub tokens must also be bound to a branch ('ref') or a deployment 'environment'",
        )


def _check_jwt_config(method: Mapping[str, Any], where: str, p: Problems) -> bool:
    """Exactly one key source; returns whether the method trusts GitHub's issuer."""
    config = method.get("config")
    config = config if isinstance(config, Mapping) else {}
    if ("oidc_discovery_url" in config) == ("jwt_validation_pubkeys" in config):
        p.add(path_of(where, "config"), "set exactly one of oidc_discovery_url or jwt_validation_pubkeys")
    return config.get("bound_issuer") == GITHUB_OIDC_ISSUER


def check(document: Mapping[str, Any], defined_policies: set[str], broken: set[str], p: Problems) -> None:
    """Check every auth method and role (the schema has checked the shape)."""
    known = defined_policies | {"default"}
    for path, method in _maps(document.get("auth")):
        kind = method.get("type")
        if kind not in TTL_BOUNDS:
            continue  # the schema reported it
        github = _check_jwt_config(method, path_of("auth", path), p) if kind == "jwt" else False
        for name, role in _maps(method.get("roles")):
            where = path_of("auth", path, "roles", name)
            _check_policies(role, where, known, broken, p)
            _check_ttls(role, where, kind, p)
            if github:
                _check_github_claims(role, where, p)
