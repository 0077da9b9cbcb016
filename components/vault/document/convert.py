"""``hardening/v1`` -> ``hardening/v2``: lists of named items become maps keyed like the API paths, role
fields take the API's names, and every v1 default is written out (so the converted document means what the
old one meant). The result is validated like any v2 document; a v1 field it does not know stays visible as
an unknown key there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.vault.document import audit, auth, secrets

V1 = "hardening/v1"
_K8S_ROLE = {"name", "service_account", "namespace", "policies", "token_ttl", "token_max_ttl", "audience"}


def is_v1(data: Any) -> bool:
    """A v1 document: it says so, or it has no apiVersion and v1's sections (``kv``, list sections)."""
    if not isinstance(data, Mapping):
        return False
    if data.get("apiVersion") == V1:
        return True
    return "apiVersion" not in data and ("kv" in data or any(isinstance(data.get(k), list) for k in ("auth", "audit")))


def _items(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _secrets(kv: Any) -> dict[str, Any]:
    kv = kv if isinstance(kv, Mapping) else {}
    entry = secrets.kv_mount(
        max_versions=kv.get("max_versions", 10),
        cas_required=kv.get("cas_required", False),
        rotation_period=kv.get("rotation_period", secrets.DEFAULT_ROTATION_PERIOD),
        **({"description": kv["description"]} if "description" in kv else {}),
    )
    return {kv.get("path", "secret"): entry}


def _kubernetes_role(r: Mapping[str, Any]) -> dict[str, Any]:
    body = auth.kubernetes_role(
        r.get("service_account"),  # type: ignore[arg-type]
        r.get("namespace"),  # type: ignore[arg-type]
        r.get("policies") or [],
        token_ttl=r.get("token_ttl", "1h"),
        token_max_ttl=r.get("token_max_ttl", "4h"),
        audience=r.get("audience", ""),
    )
    return body | {k: v for k, v in r.items() if k not in _K8S_ROLE}


def _jwt_role(r: Mapping[str, Any]) -> dict[str, Any]:
    body = {"role_type": "jwt", **{k: v for k, v in r.items() if k != "name"}}
    body["token_policies"] = body.pop("policies", [])
    defaults = {"bound_claims_type": "string", "user_claim": "sub", "token_ttl": "15m", "token_max_ttl": "30m"}
    return {**defaults, **body}


def _auth(methods: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in _items(methods):
        role = _jwt_role if m.get("type") == "jwt" else _kubernetes_role
        entry = {k: v for k, v in m.items() if k not in ("path", "roles")}
        entry["roles"] = {str(r.get("name")): role(r) for r in _items(m.get("roles"))}
        out[str(m.get("path", m.get("type")))] = entry
    return out


def _audit(devices: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d in _items(devices):
        entry = audit.file_device(d.get("file_path"), description=d.get("description", "File audit log"))  # type: ignore[arg-type]
        entry["type"] = d.get("type")
        out[str(d.get("path", "file"))] = entry
    return out


def v1_to_v2(data: Mapping[str, Any]) -> dict[str, Any]:
    """The v2 document meaning what the v1 document ``data`` meant (not validated)."""
    return {
        "apiVersion": "hardening/v2",
        "kind": data.get("kind", "VaultConfiguration"),
        "secrets": _secrets(data.get("kv")),
        "policies": {str(p.get("name")): p.get("hcl") for p in _items(data.get("policies"))},
        "auth": _auth(data.get("auth")),
        "audit": _audit(data.get("audit")),
    }
