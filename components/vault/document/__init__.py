"""The declarative Vault document (``apiVersion: hardening/v2``), shaped like the Vault API.

Every section is a map whose keys are the last segment of the API path its values are written to, and the
values are the API bodies themselves (one definition per field: the API's)::

    apiVersion: hardening/v2
    kind: VaultConfiguration
    secrets:  {secret: {type: kv, options: {version: "2"}, config: {max_versions: 10, cas_required: false},
                        rotation_period: 2160h}}            # sys/mounts/secret, secret/config
    policies: {app-orders-api: "path ..."}                  # sys/policies/acl/app-orders-api {policy: ...}
    auth:
      kubernetes:                                           # sys/auth/kubernetes
        type: kubernetes
        config: {kubernetes_host: https://kubernetes.default.svc}                # auth/kubernetes/config
        roles: {orders-api: {bound_service_account_names: [orders-api], ...}}     # auth/kubernetes/role/orders-api
    audit: {file: {type: file, options: {file_path: /vault/audit/audit.log}}}   # sys/audit/file

The JSON Schema (``components/vault/schema/vault-config.schema.json``) checks the shape; one module per
section (``secrets``, ``policies``, ``auth``, ``audit``) holds its builders and the checks a schema cannot
express. ``from_document`` reports every problem at once, each naming its JSON path
(``auth.kubernetes.roles.orders-api.token_ttl``), the bad value and what is accepted. A ``hardening/v1``
document is refused with the command that converts it (``python -m tools.vault convert``).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from components import yamltext
from components.vault.document import auth, convert, policies, schema, secrets
from components.vault.document.base import ConfigurationError, Problems

API_VERSION = "hardening/v2"
KIND = "VaultConfiguration"
SECTIONS = ("secrets", "policies", "auth", "audit")
CONVERT_COMMAND = "python -m tools.vault convert OLD.yaml > NEW.yaml"


@dataclass(frozen=True)
class VaultConfig:
    """A validated document's sections (plain data, the API bodies)."""

    secrets: dict[str, Any] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)
    auth: dict[str, Any] = field(default_factory=dict)
    audit: dict[str, Any] = field(default_factory=dict)

    @property
    def kv_mount(self) -> str:
        """The first KV version 2 mount (``secret`` when there is none): where apps and CI read."""
        return next(iter(sorted(secrets.kv_mounts({"secrets": self.secrets}), key=list(self.secrets).index)), "secret")

    @property
    def rotation_period(self) -> str:
        entry = self.secrets.get(self.kv_mount) or {}
        return str(entry.get("rotation_period", secrets.DEFAULT_ROTATION_PERIOD))

    def roles(self, auth_type: str) -> dict[str, dict[str, Any]]:
        """Every role of the auth methods of ``auth_type``, by name."""
        return {n: r for m in self.auth.values() if m.get("type") == auth_type for n, r in m.get("roles", {}).items()}


def to_document(cfg: VaultConfig) -> dict[str, Any]:
    """The plain, JSON-serialisable document (a deep copy; builder order kept)."""
    return {"apiVersion": API_VERSION, "kind": KIND, **copy.deepcopy({s: getattr(cfg, s) for s in SECTIONS})}


def _refuse_v1(data: Any) -> None:
    if convert.is_v1(data):
        raise ConfigurationError(
            [
                f"apiVersion: {data.get('apiVersion', '(none)')!r} is the old document shape (hardening/v1); "
                f"accepted: {API_VERSION}. Convert it: {CONVERT_COMMAND} (docs/SECURITY_GUIDE.md#vault-document)"
            ]
        )


def from_document(data: Any) -> VaultConfig:
    """Validate a parsed document and build the ``VaultConfig``; ``ConfigurationError`` lists every problem."""
    _refuse_v1(data)
    problems = Problems()
    schema.check(data, problems)
    if isinstance(data, Mapping):
        secrets.check(data, problems)
        broken = policies.check(data, secrets.kv_mounts(data), problems)
        defined = set(data.get("policies") or {}) if isinstance(data.get("policies"), Mapping) else set()
        auth.check(data, defined, broken, problems)
    if problems.items:
        raise ConfigurationError(problems.items)
    return VaultConfig(**copy.deepcopy({s: dict(data.get(s) or {}) for s in SECTIONS}))


def parse(text: str) -> Any:
    """A YAML or JSON text as data (a key given twice is refused: it would hide a role or policy)."""
    try:
        return yamltext.load_config(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigurationError([f"document: not valid YAML/JSON{where}: {problem}"]) from None


def load_document(text: str) -> VaultConfig:
    """Parse a YAML or JSON document and validate it (``ConfigurationError`` lists every problem)."""
    return from_document(parse(text))


def validate(cfg: VaultConfig) -> None:
    """Validate a ``VaultConfig`` built in code (same checks as a loaded document). A document is checked
    once per content: the builder validates what it builds and ``render_document`` validates what it
    renders, the same 50-role document at 50 services (0.25 s of schema checks each time)."""
    _validate_text(json.dumps(to_document(cfg), sort_keys=True))


@functools.lru_cache(maxsize=16)
def _validate_text(document: str) -> None:
    from_document(json.loads(document))  # raises ConfigurationError, which lru_cache does not keep


def dump(doc: Mapping[str, Any], fmt: str = "yaml") -> str:
    """A document as JSON or as YAML (policies as literal blocks, a header naming its origin)."""
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    if fmt != "yaml":
        raise ValueError(f"fmt: {fmt!r}; accepted: yaml, json")
    header = (
        "# Desired Vault configuration (components/vault/document); applied by\n"
        "# `python -m tools.vault reconcile --config <this file>`. Contains no secret.\n"
    )
    return header + yamltext.dump(dict(doc), width=1000)


def render_document(cfg: VaultConfig, fmt: str = "yaml") -> str:
    """The configuration document as YAML or JSON; validated first."""
    validate(cfg)
    return dump(to_document(cfg), fmt)


def convert_text(text: str, fmt: str = "yaml") -> str:
    """A ``hardening/v1`` document's text as the equivalent v2 document, validated."""
    data = parse(text)
    if not convert.is_v1(data):
        raise ConfigurationError(
            [
                f"apiVersion: {data.get('apiVersion') if isinstance(data, Mapping) else data!r}; "
                f"accepted: hardening/v1 (the document to convert)"
            ]
        )
    doc = convert.v1_to_v2(data)
    from_document(doc)
    return dump(doc, fmt)


__all__ = ["API_VERSION", "KIND", "ConfigurationError", "VaultConfig", "from_document", "load_document"]
