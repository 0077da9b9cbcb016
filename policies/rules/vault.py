"""Vault rules: never dev mode, TLS on every TCP listener, an audit device configured."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .common import (
    CONFIGMAP,
    WORKLOAD_TYPES,
    Finding,
    Resource,
    Rule,
    app_name,
    as_list,
    as_map,
    container_label,
    containers,
    pod_spec,
    ref,
)
from .images import parse_image

VAULT_NAMES = frozenset({"vault", "openbao"})
SERVER_CONFIG_KEY = "vault.hcl"
DECLARATIVE_CONFIG_KEY = "vault-config.json"
_DEV_ENV = re.compile(r"^(?:VAULT|BAO)_DEV_")


def _is_vault_container(res: Resource, c: Mapping[str, Any]) -> bool:
    image = c.get("image")
    if isinstance(image, str):
        repo = parse_image(image).repository.rsplit("/", 1)[-1]
        if repo in VAULT_NAMES:
            return True
    return app_name(res) in VAULT_NAMES and c.get("name") in VAULT_NAMES


def no_dev_mode(res: Resource, config: Mapping[str, Any]) -> list[str]:
    """No Vault/OpenBao container runs ``server -dev`` (in-memory, unsealed, root token in the log)."""
    spec = pod_spec(res)
    if spec is None:
        return []
    msgs = []
    for fld, c in containers(spec):
        if not _is_vault_container(res, c):
            continue
        argv = [a for a in as_list(c.get("command")) + as_list(c.get("args")) if isinstance(a, str)]
        who = f"{ref(res)}: {container_label(fld, c)}"
        if not argv:
            msgs.append(
                f"{who} runs the image's default command, which is `server -dev`; pass `server -config=...` explicitly"
            )
        dev = [a for a in argv if re.match(r"^--?dev(?:$|-|=)", a)]
        if dev:
            msgs.append(f"{who} runs in dev mode ({' '.join(dev)})")
        env = [e.get("name") for e in as_list(c.get("env")) if isinstance(e, Mapping)]
        dev_env = sorted(n for n in env if isinstance(n, str) and _DEV_ENV.match(n))
        if dev_env:
            msgs.append(f"{who} sets dev-mode variables {dev_env}")
    return msgs


POLICY_VAULT_NO_DEV_MODE = Rule(
    name="vault-no-dev-mode",
    area="vault",
    severity="critical",
    kind="resource",
    default_level="mandatory",
    check=no_dev_mode,
    applies_to=WORKLOAD_TYPES,
    description="Vault never runs in dev mode (in-memory storage, auto-unsealed, root token logged).",
    remediation="Run `vault server -config=/vault/config/vault.hcl` with raft storage; remove -dev flags "
    "and VAULT_DEV_* variables.",
)


def _blocks(hcl: str, block: str) -> list[str]:
    """``label\nbody`` of each ``<block> "<label>" ["<label2>"] { ... }`` stanza (brace-matched, comments
    stripped first)."""
    text = re.sub(r"(?m)(?:#|//).*$", "", hcl)
    bodies = []
    for m in re.finditer(rf'(?m)^\s*{block}\s+"([^"]*)"(?:\s+"[^"]*")*\s*\{{', text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        bodies.append((m.group(1), text[m.end() : i - 1]))
    return [f"{label}\n{body}" for label, body in bodies]


def _attr(body: str, name: str) -> str | None:
    m = re.search(rf'(?m)^\s*{name}\s*=\s*("?)([^"\n]*)\1\s*$', body)
    return m.group(2).strip() if m else None


def tls_enabled(res: Resource, config: Mapping[str, Any]) -> list[str]:
    """Every ``listener "tcp"`` in the Vault server config serves TLS."""
    hcl = as_map(res.props.get("data")).get(SERVER_CONFIG_KEY)
    if not isinstance(hcl, str):
        return []
    msgs = []
    for block in _blocks(hcl, "listener"):
        label, _, body = block.partition("\n")
        if label != "tcp":
            continue
        addr = _attr(body, "address") or "?"
        disabled = (_attr(body, "tls_disable") or "false").lower()
        if disabled in ("true", "1"):
            msgs.append(f'{ref(res)}: listener "tcp" {addr} sets tls_disable = {disabled}')
            continue
        missing = [k for k in ("tls_cert_file", "tls_key_file") if not _attr(body, k)]
        if missing:
            msgs.append(f'{ref(res)}: listener "tcp" {addr} has no {" or ".join(missing)}')
    return msgs


POLICY_VAULT_TLS = Rule(
    name="vault-tls",
    area="vault",
    severity="high",
    kind="resource",
    default_level="advisory",
    check=tls_enabled,
    applies_to=frozenset({CONFIGMAP}),
    description="Every Vault TCP listener serves TLS (tls_cert_file/tls_key_file, no tls_disable).",
    remediation="Enable TLS on the listener in the Vault HCL builder: tls_cert_file and tls_key_file "
    "from the mounted certificate Secret; drop tls_disable.",
)


def _audit_devices(value: Any) -> int:
    """Audit devices in the document's ``audit``: a ``hardening/v2`` map ``{<path>: {type, options}}`` (a v1
    list of ``{type, path, ...}`` still counts, so an unconverted document is not reported as unaudited)."""
    if isinstance(value, Mapping):
        return sum(1 for v in value.values() if isinstance(v, Mapping) and v.get("type"))
    return sum(1 for v in as_list(value) if isinstance(v, Mapping) and v.get("type"))


def audit_device(resources: Sequence[Resource], config: Mapping[str, Any]) -> list[Finding]:
    """When the stack runs Vault, its configuration declares at least one audit device."""
    vault_servers = [
        r
        for r in resources
        if (
            (r.type == CONFIGMAP and SERVER_CONFIG_KEY in as_map(r.props.get("data")))
            or (r.type in WORKLOAD_TYPES and app_name(r) in VAULT_NAMES)
        )
    ]
    if not vault_servers:
        return []
    declared = 0
    sources = []
    findings = []
    for r in resources:
        if r.type != CONFIGMAP:
            continue
        data = as_map(r.props.get("data"))
        if isinstance(data.get(DECLARATIVE_CONFIG_KEY), str):
            sources.append(r)
            try:
                doc = json.loads(data[DECLARATIVE_CONFIG_KEY])
            except json.JSONDecodeError as exc:
                findings.append(Finding(f"{ref(r)}: {DECLARATIVE_CONFIG_KEY} is not valid JSON ({exc})", r.urn or None))
                continue
            declared += _audit_devices(as_map(doc).get("audit"))
        hcl = data.get(SERVER_CONFIG_KEY)
        if isinstance(hcl, str):
            declared += len(_blocks(hcl, "audit"))
    if declared == 0 and not findings:
        where = ", ".join(ref(r) for r in sources) if sources else f"no ConfigMap with key {DECLARATIVE_CONFIG_KEY}"
        findings.append(
            Finding(
                f"Vault runs ({ref(vault_servers[0])}) but no audit device is configured ({where})",
                vault_servers[0].urn or None,
            )
        )
    return findings


POLICY_VAULT_AUDIT_DEVICE = Rule(
    name="vault-audit-device",
    area="vault",
    severity="high",
    kind="stack",
    default_level="mandatory",
    check=audit_device,
    description="When the stack runs Vault, at least one audit device is configured.",
    remediation="Declare an audit device (e.g. file to stdout) in the SecretsVault declarative config "
    "(`audit` in vault-config.json); the reconcile step enables it.",
)
