"""Secret rules: no secret-looking literals in env, ConfigMaps or workflows; real values in secrets.

About "built from Pulumi secrets": the SDKs of ``kubernetes.core.v1.Secret`` (``data``,
``stringData``) and ``github.ActionsSecret``/``ActionsEnvironmentSecret`` (``plaintextValue``,
``encryptedValue``) always wrap these inputs with ``pulumi.Output.secret``, and ``pulumi_policy``
strips the engine's secret marker before a policy runs. So whether a value is *marked* secret is
either always true or invisible; what a policy can still see, and what this rule checks, is the value
itself: present, not a literal placeholder (``changeme``, ``password``...), and long enough to have
come from a generator or a ``pulumi config set --secret`` value rather than from source code.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping
from typing import Any

from . import ci
from .common import (
    ACTIONS_ENV_SECRET,
    ACTIONS_SECRET,
    CONFIGMAP,
    REPOSITORY_FILE,
    SECRET,
    WORKLOAD_TYPES,
    Resource,
    Rule,
    as_list,
    as_map,
    container_label,
    containers,
    pod_spec,
    ref,
)

# Names (env vars, workflow `with:`/`env:` keys, Secret/ConfigMap keys) that hold credentials.
SECRET_NAME = re.compile(
    r"(?:^|[_.\-])(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|"
    r"client[_-]?secret)(?:$|[_.\-])|(?:password|secret|token|apikey)$|\.key$",
    re.IGNORECASE,
)
# Names that look secret but hold a reference, a location or a setting, not the credential itself.
NOT_A_SECRET_NAME = re.compile(
    r"(?:_FILE|_PATH|_DIR|_TTL|_TYPE|_NAME|_ENABLED|_MOUNT|_ROLE|_POLICIES|_PERIOD|_URL|_ADDR|_HEADER"
    r"|_KEY_ID|_FILENAME|_REF|_METHOD|_MODE|_ENDPOINT)$",
    re.IGNORECASE,
)
# Inside config files keep to unambiguous credential keys (``token_ttl`` and friends are settings).
CONTENT_KEY = re.compile(
    r"""(?im)^[ \t]*["']?([\w.\-]*(?:password|passwd|secret_key|api_key|apikey|access_key|private_key|"""
    r"""client_secret|auth_token|bearer_token))["']?[ \t]*[:=][ \t]*["']?([^"'\s#,}]+)"""
)
# High-confidence credential formats, wherever they appear.
TOKEN_PATTERNS: dict[str, re.Pattern[str]] = {
    "private key block": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "Slack token or webhook": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}|hooks\.slack\.com/services/T\w+/B\w+/\w+"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    "Vault token": re.compile(r"\bhv[sb]\.[A-Za-z0-9_\-]{20,}\b"),
    "credentials in URL": re.compile(r"\b[a-z][a-z0-9+.\-]*://[^/\s:@'\"]+:[^/\s@'\"$]{3,}@"),
}
# A value that points somewhere else (templating, env indirection, a mounted file) is not a literal.
REFERENCE = re.compile(r"\$\{|\$__(?:env|file)\{|\{\{|^/|^\$[A-Z_]|^<[^>]*>$|^vault:|^secret/")
PLACEHOLDERS_DEFAULT = [
    "",
    "changeme",
    "change-me",
    "change_me",
    "password",
    "passw0rd",
    "secret",
    "admin",
    "root",
    "test",
    "example",
    "default",
    "123456",
    "12345678",
    "letmein",
    "todo",
    "xxx",
    "none",
    "null",
    "replace-me",
]


def _literal(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != "" and not REFERENCE.search(value.strip())


def _secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name)) and not NOT_A_SECRET_NAME.search(name)


# Speed only (a 50-service render scans ~2 MB of workflows): text every match of a pattern must contain.
# A text without any of them cannot match, so the regex (which tries every position) is not run on it.
_TOKEN_HINTS: dict[str, tuple[str, ...]] = {
    "GitHub token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "AWS access key id": ("AKIA", "ASIA"),
    "Slack token or webhook": ("xox", "hooks.slack.com/services/T"),
    "Google API key": ("AIza",),
    "Vault token": ("hvs.", "hvb."),
}
# Every CONTENT_KEY match names one of these (case-insensitively; exact on ASCII text, see _content_keys).
_CONTENT_WORDS = (
    "password",
    "passwd",
    "secret_key",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "client_secret",
    "auth_token",
    "bearer_token",
)
_URL_LABEL = "credentials in URL"


def _token_found(label: str, pat: re.Pattern[str], text: str) -> bool:
    hints = _TOKEN_HINTS.get(label)
    if hints is not None and not any(h in text for h in hints):
        return False
    if label == _URL_LABEL and pat is TOKEN_PATTERNS[_URL_LABEL]:
        # A match lies on one line (no class of the pattern takes a newline) and holds "://": search those lines.
        i = text.find("://")
        while i != -1:
            end = text.find("\n", i)
            end = len(text) if end == -1 else end
            if pat.search(text, text.rfind("\n", 0, i) + 1, end):
                return True
            i = text.find("://", end)
        return False
    return pat.search(text) is not None


def _content_keys(text: str) -> bool:
    """Whether CONTENT_KEY may match: False only when it cannot (ASCII text naming none of its words;
    outside ASCII, case-insensitive matching has folds that str.lower does not make, so the regex decides)."""
    if not text.isascii():
        return True
    lower = text.lower()
    return any(w in lower for w in _CONTENT_WORDS)


def scan_text(text: str, *, tokens_only: bool = False) -> list[str]:
    """Credential-looking content in a blob of text (config file, workflow, ConfigMap value).
    ``tokens_only``: only the "contains a <token>" findings (what workflows and other files are judged by)."""
    found = [f"contains a {label}" for label, pat in TOKEN_PATTERNS.items() if _token_found(label, pat, text)]
    if tokens_only or not _content_keys(text):
        return found
    for m in CONTENT_KEY.finditer(text):
        if _literal(m.group(2)) and m.group(2).lower() not in ("true", "false", "null", "~", "''", '""'):
            found.append(f"sets {m.group(1)} to a literal value")
    return found


def _walk_mappings(node: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    if isinstance(node, Mapping):
        for k, v in node.items():
            key = str(k)
            yield path, key, v
            yield from _walk_mappings(v, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk_mappings(v, f"{path}[{i}]")


def _env_literals(res: Resource) -> list[str]:
    spec = pod_spec(res)
    if spec is None:
        return []
    msgs = []
    for fld, c in containers(spec):
        for env in as_list(c.get("env")):
            if not isinstance(env, Mapping):
                continue
            name, value = env.get("name"), env.get("value")
            if isinstance(name, str) and _secret_name(name) and _literal(value):
                msgs.append(
                    f"{container_label(fld, c)} env {name} is a literal value; use valueFrom "
                    "(secretKeyRef) or read it from Vault"
                )
            elif isinstance(value, str) and (hits := scan_text(value, tokens_only=True)):
                msgs.append(f"{container_label(fld, c)} env {name}: {', '.join(hits)}")
        for key in ("command", "args"):
            msgs += [f"{container_label(fld, c)} {key}[{i}] {m}" for i, m in _argv_literals(as_list(c.get(key)))]
    return msgs


# ``--password=x``, ``-token x``, ``DB_PASSWORD=x`` (also inside ``sh -c "..."`` scripts).
_FLAG = re.compile(r"""(?:^|\s)(--?[A-Za-z][\w.\-]*|[A-Za-z_][\w]*)(?:=|\s+)(["']?)([^\s"']+)\2""")
_ARG_REFERENCE = re.compile(r"^\$\(|^\$\{?[A-Za-z_]|^@|^file:|^env:")


def _argv_literals(argv: list[Any]) -> Iterator[tuple[int, str]]:
    """Credentials written into a container's command line, where ``ps``, the API and every log can see them."""
    for i, arg in enumerate(argv):
        if not isinstance(arg, str):
            continue
        hits = scan_text(arg, tokens_only=True)
        if hits:
            yield i, ", ".join(hits)
            continue
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        pairs = [(m.group(1), m.group(3)) for m in _FLAG.finditer(arg)]
        if isinstance(nxt, str) and re.fullmatch(r"--?[A-Za-z][\w.\-]*", arg) and not nxt.startswith("-"):
            pairs.append((arg, nxt))
        for flag, value in pairs:
            name = flag.lstrip("-").replace("-", "_")
            if _secret_name(name) and _literal(value) and not _ARG_REFERENCE.search(value):
                yield i, f"passes {flag.lstrip()} as a literal value; read it from a file or a secretKeyRef env var"
                break


def _configmap_literals(res: Resource) -> list[str]:
    msgs = []
    for key, value in as_map(res.props.get("data")).items():
        if not isinstance(value, str):
            continue
        if _secret_name(key) and _literal(value) and "\n" not in value.strip():
            msgs.append(f"key {key!r} holds a literal credential")
        msgs.extend(f"key {key!r} {hit}" for hit in scan_text(value))
    return msgs


def _workflow_literals(content: str) -> list[str]:
    msgs = scan_text(content, tokens_only=True)
    doc, _error = ci.load_workflow(content)
    if doc is None:
        return msgs
    for path, key, value in _walk_mappings(doc):
        section = path.rsplit(".", 1)[-1] if path else ""
        if (
            (section in ("env", "with") or path.endswith(".env") or path.endswith(".with"))
            and _secret_name(key)
            and _literal(value)
            and "${{" not in str(value)
        ):
            msgs.append(f"{path}.{key} is a literal value; use ${{{{ secrets.NAME }}}}")
    return msgs


def no_literal_secrets(res: Resource, config: Mapping[str, Any]) -> list[str]:
    """No secret-looking literal values in container env, ConfigMaps or files committed to repositories
    (workflows fully; other files for unambiguous credential formats such as private keys and tokens)."""
    if res.type == CONFIGMAP:
        return [f"{ref(res)}: {m}" for m in _configmap_literals(res)]
    wf = ci.workflow_of(res)
    if wf is not None:
        return [f"{wf[0]}: {m}" for m in _workflow_literals(wf[1])]
    if res.type == REPOSITORY_FILE:
        path, content = res.props.get("file"), res.props.get("content")
        if isinstance(content, str):
            return [f"{path}: {hit}" for hit in scan_text(content, tokens_only=True)]
        return []
    return [f"{ref(res)}: {m}" for m in _env_literals(res)]


POLICY_SECRETS_NO_LITERAL_VALUES = Rule(
    name="secrets-no-literal-values",
    area="secrets",
    severity="critical",
    kind="resource",
    default_level="mandatory",
    check=no_literal_secrets,
    applies_to=WORKLOAD_TYPES | {CONFIGMAP, REPOSITORY_FILE},
    description="No secret-looking literal values in container env, command and args, ConfigMaps, "
    "workflow files or other files committed to repositories (private keys, tokens).",
    remediation="Move the value to Vault (the app reads it at start) or to a Pulumi secret "
    "(`pulumi config set --secret`) delivered as a Kubernetes Secret / GitHub secret; "
    "reference it with valueFrom.secretKeyRef or ${{ secrets.NAME }}.",
)


def _bad_value(value: Any, placeholders: set[str], min_length: int) -> str | None:
    if not isinstance(value, str):
        return None  # unknown during preview: nothing to judge
    if value.strip().lower() in placeholders:
        return "is a placeholder literal" if value.strip() else "is empty"
    if len(value) < min_length:
        return f"is only {len(value)} characters (generated or configured secrets are >= {min_length})"
    return None


def from_pulumi_secrets(res: Resource, config: Mapping[str, Any]) -> list[str]:
    """Kubernetes Secrets and GitHub Actions secrets carry real secret values, not literals."""
    placeholders = {p.lower() for p in config.get("placeholders", PLACEHOLDERS_DEFAULT) if isinstance(p, str)}
    min_length = int(config.get("minLength", 12))
    msgs = []
    if res.type == SECRET:
        who = ref(res)
        for fld in ("data", "stringData"):
            values = as_map(res.props.get(fld))
            for key, value in values.items():
                if fld == "data" and isinstance(value, str):
                    try:
                        value = base64.b64decode(value, validate=True).decode("utf-8", "replace")
                    except (binascii.Error, ValueError):
                        msgs.append(f"{who}: data.{key} is not valid base64")
                        continue
                bad = _bad_value(value, placeholders, min_length) if _secret_name(str(key)) else None
                if bad:
                    msgs.append(f"{who}: {fld}.{key} {bad}")
        return msgs
    name = res.props.get("secretName")
    who = f"GitHub Actions secret {name if isinstance(name, str) else res.name!r}"
    present = [f for f in ("plaintextValue", "encryptedValue", "value", "valueEncrypted") if f in res.props]
    if not present:
        return [f"{who}: has no plaintextValue or encryptedValue"]
    for fld in present:
        if fld in ("plaintextValue", "value"):
            bad = _bad_value(res.props.get(fld), placeholders, min_length)
            if bad:
                msgs.append(f"{who}: {fld} {bad}")
    return msgs


POLICY_SECRETS_FROM_PULUMI_SECRETS = Rule(
    name="secrets-from-pulumi-secrets",
    area="secrets",
    severity="high",
    kind="resource",
    default_level="mandatory",
    check=from_pulumi_secrets,
    applies_to=frozenset({SECRET, ACTIONS_SECRET, ACTIONS_ENV_SECRET}),
    config={
        "minLength": {
            "type": "number",
            "minimum": 1,
            "default": 12,
            "description": "Shortest acceptable value for password/token-like keys.",
        },
        "placeholders": {
            "type": "array",
            "items": {"type": "string"},
            "default": PLACEHOLDERS_DEFAULT,
            "description": "Values (case-insensitive) that are placeholders, never secrets.",
        },
    },
    description="Kubernetes Secrets and GitHub Actions secrets carry real secret values (from Pulumi "
    "secret config or a generator), never placeholders or short literals.",
    remediation="Set the value with `pulumi config set --secret <key>` (or generate it with "
    "random.RandomPassword) and pass the Output through; never write it in code.",
)
