"""The Vault Agent sidecar that delivers a service's secrets without a Vault client (pure builders).

A service whose Score workload declares ``vault-secret`` resources and whose platform section asks for
``secrets.delivery: agent`` gets a Kubernetes native sidecar (an init container with ``restartPolicy:
Always``) running ``vault agent``. It logs in with Kubernetes auth using a projected service-account token
(audience ``vault``, 10 minutes, mounted only in the sidecar), keeps no token on disk (no sink) and renders
consul-template templates into a memory-backed ``emptyDir`` the app container mounts read-only:

``/vault/secrets/<resource>/<key>``
    every declared key of every secret resource, the bare value (no trailing newline);
``/vault/secrets/vars/<VAR>``
    a variable whose value mixes placeholders with text (``postgres://${resources.db.username}@db``);
    a variable that is exactly one placeholder points at the key file instead;
``/vault/secrets/files/<score path>``
    every Score ``files`` entry, mounted at its Score path with ``subPath``;
``/vault/secrets/env``
    with ``agentFormat: env`` only: ``export VAR='value'`` lines for every variable holding placeholders,
    single-quoted so that ``. /vault/secrets/env`` is safe for any value.

The app container gets ``<VAR>_FILE=<path>`` for each variable holding placeholders (the ``_FILE``
convention of the official database images). The sidecar's startup probe passes only once every file
has rendered, so Kubernetes starts the app container after its secrets exist. The agent re-reads the KV
secrets every ``render_interval`` (``static_secret_render_interval``) and exits when Vault stays
unreachable (``exit_on_retry_failure``), so that kubelet restarts it visibly instead of serving stale files.

Every function here returns plain data (snake_case dicts as ``components.k8s`` builds them); the
per-service component creates the ConfigMap and wires the parts into the pod template. See
docs/SERVICES_SECRETS.md.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components import k8s, versions
from components.config import Resources
from components.service.load import PLACEHOLDER, PLATFORM_FILE, SCORE_FILE, SERVICES_DIR, ServiceError
from components.service.spec import AGENT_FORMATS, ContainerFile, SecretResource, ServiceSpec

Obj = dict[str, Any]

SIDECAR_NAME = "vault-agent"
SECRETS_DIR = "/vault/secrets"  # the memory-backed emptyDir (agent: read-write; app: read-only)
CONFIG_DIR = "/vault/config"  # the ConfigMap: agent.hcl and the templates
CONFIG_FILE = "agent.hcl"
ENV_FILE = f"{SECRETS_DIR}/env"
VARS_DIR = "vars"
FILES_DIR = "files"
# Names inside SECRETS_DIR the layout uses itself: a secret resource cannot have them.
RESERVED_RESOURCE_NAMES = ("env", FILES_DIR, VARS_DIR)
SECRETS_VOLUME = "vault-secrets"
CONFIG_VOLUME = "vault-agent-config"
TOKEN_VOLUME = "vault-token"  # noqa: S105 - a volume name
SECRETS_SIZE_LIMIT = "16Mi"  # memory-backed: counts against the pod's memory
TOKEN_EXPIRATION_SECONDS = 600  # the shortest lifetime Kubernetes issues; kubelet refreshes it at 80 %
SIDECAR_RESOURCES = Resources("10m", "32Mi", "100m", "64Mi")
SECRET_FILE_MODE = "0400"  # noqa: S105 - a file mode
STARTUP_PERIOD_SECONDS = 1
STARTUP_FAILURE_THRESHOLD = 120  # two minutes for the first login and render before kubelet restarts it

_DURATION = re.compile(r"[1-9][0-9]*(s|m|h)")
_MODE = re.compile(r"0?[0-7]{3}")
_KEY = re.compile(r"[a-z_][a-z0-9_]*")  # a Go template field name: consul-template fails on a missing one
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(r"\$\$|\$\{([^}]*)\}")  # Score: $$ is a literal $, ${...} a placeholder


TOKEN_AUDIENCE = "vault"  # noqa: S105 - the audience of the projected ServiceAccount token, not a secret


@dataclass(frozen=True, kw_only=True)
class AgentInput:
    """What the sidecar needs for one service (narrow: the lead's component builds it from a ServiceSpec)."""

    service: str
    role: str  # the Vault Kubernetes-auth role
    auth_mount: str = "kubernetes"
    vault_address: str
    ca_file: str = ""  # CA bundle path in the sidecar; "" = no TLS
    kv_mount: str = "secret"
    secrets_prefix: str = "apps"  # KV path <kv_mount>/data/<secrets_prefix>/<service>/<resource>
    secrets: tuple[SecretResource, ...]
    variables: Mapping[str, str] = field(default_factory=dict)
    files: tuple[ContainerFile, ...] = ()
    format: str = "files"  # files | env
    render_interval: str = "5m"
    image: str  # the pinned Vault image: versions.image("vault")
    token_path: str = "/var/run/secrets/vault/token"  # noqa: S105 - a path
    token_audience: str = TOKEN_AUDIENCE


@dataclass(frozen=True)
class AgentPodParts:
    """The pieces the component adds to the pod template and the ConfigMap it creates."""

    sidecar: Obj  # goes first in init_containers (a native sidecar)
    volumes: list[Obj]
    app_mounts: list[Obj]  # volume_mounts of the app container
    app_env: list[Obj]  # env of the app container: <VAR>_FILE for every variable holding placeholders
    config_map_name: str
    config_map_data: dict[str, str]


# --------------------------------------------------------------------------------------------------
# From a service spec
# --------------------------------------------------------------------------------------------------
def needs_agent(spec: ServiceSpec) -> bool:
    """Whether the service gets the sidecar: agent delivery and at least one ``vault-secret`` resource."""
    return spec.secrets_delivery.mode == "agent" and bool(spec.secrets)


def agent_input(spec: ServiceSpec, *, vault_address: str, ca_file: str, auth_mount: str, kv_mount: str) -> AgentInput:
    """The sidecar's input for ``spec``; a ``ServiceError`` (exit 2) names the file and field of each
    definition the sidecar cannot deliver. Call it only when ``needs_agent(spec)``."""
    if not needs_agent(spec):
        raise ValueError(
            f"{spec.name}: no Vault Agent for secrets delivery {spec.secrets_delivery.mode!r} "
            f"with {len(spec.secrets)} vault-secret resource(s); check needs_agent() first"
        )
    inp = AgentInput(
        service=spec.name,
        role=spec.name,
        auth_mount=auth_mount,
        vault_address=vault_address,
        ca_file=ca_file,
        kv_mount=kv_mount,
        secrets=spec.secrets,
        variables=dict(spec.container.variables),
        files=spec.container.files,
        format=spec.secrets_delivery.agent_format,
        render_interval=spec.secrets_delivery.render_interval,
        image=versions.image("vault"),
    )
    folder = spec.source or f"{SERVICES_DIR}/{spec.name}"
    problems = check(inp, where=f"{folder}/{SCORE_FILE}: ", platform_where=f"{folder}/{PLATFORM_FILE}: ")
    if problems:
        raise ServiceError(problems)
    return inp


def check(inp: AgentInput, where: str = "", platform_where: str = "") -> list[str]:
    """Every problem with ``inp`` as a message naming the field, the value and what is accepted;
    ``where``/``platform_where`` prefix the Score and platform fields (their files)."""
    declared = {r.name: set(r.keys) for r in inp.secrets}
    return [
        *_service_problems(inp),
        *_resource_problems(inp, where),
        *_variable_problems(inp, where, declared),
        *_file_problems(inp, where, declared),
        *_platform_problems(inp, platform_where),
        *_connection_problems(inp),
    ]


def _service_problems(inp: AgentInput) -> list[str]:
    out: list[str] = []
    if not _DNS_LABEL.fullmatch(inp.service) or len(inp.service) > 63 - len("-vault-agent"):
        out.append(
            f"service: {inp.service!r}; accepted: a DNS-1123 label of at most {63 - len('-vault-agent')} characters "
            "(the ConfigMap is <service>-vault-agent)"
        )
    return out


def _resource_problems(inp: AgentInput, where: str) -> list[str]:
    out: list[str] = []
    if not inp.secrets:
        out.append(f"{where}resources: no vault-secret resource; the Vault Agent has nothing to deliver")
    for res in inp.secrets:
        if res.name in RESERVED_RESOURCE_NAMES:
            out.append(
                f"{where}resources.{res.name}: the name {res.name!r} is used by the Vault Agent's own layout "
                f"under {SECRETS_DIR}/; accepted: any other name (not {', '.join(RESERVED_RESOURCE_NAMES)})"
            )
        for key in res.keys:
            if not _KEY.fullmatch(key):
                out.append(
                    f"{where}resources.{res.name}.params.keys: {key!r}; accepted: a key starting with a letter or "
                    "_ (a-z, 0-9, _), so the agent's template fails loudly when Vault lacks it"
                )
    return out


def _variable_problems(inp: AgentInput, where: str, declared: Mapping[str, set[str]]) -> list[str]:
    out: list[str] = []
    for var, value in inp.variables.items():
        vwhere = f"{where}containers.*.variables.{var}"
        if not _VAR.fullmatch(var):
            out.append(f"{vwhere}: accepted: an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
        out += _ref_problems(value, vwhere, declared)
        if _has_placeholders(value) and f"{var}_FILE" in inp.variables:
            out.append(
                f"{vwhere}: holds secret placeholders, so the platform sets {var}_FILE, which the workload also "
                f"declares; accepted: rename one of {var} or {var}_FILE"
            )
    return out


def _file_problems(inp: AgentInput, where: str, declared: Mapping[str, set[str]]) -> list[str]:
    out: list[str] = []
    paths = [f.path for f in inp.files]
    for f in inp.files:
        fwhere = f"{where}containers.*.files.{f.path}"
        out += _ref_problems(f.content, fwhere, declared)
        if not _MODE.fullmatch(f.mode):
            out.append(f"{fwhere}.mode: {f.mode!r}; accepted: an octal file mode such as 0400 or 0440")
        if not f.path.startswith("/") or posixpath.normpath(f.path) != f.path or ".." in f.path.split("/"):
            out.append(f"{fwhere}: accepted: a normalised absolute file path (no .., //, or trailing /)")
        for other in paths:
            if other != f.path and other.startswith(f.path + "/"):
                out.append(f"{fwhere}: is a file, but {other} is declared inside it; accepted: distinct paths")
    return out


def _platform_problems(inp: AgentInput, platform_where: str) -> list[str]:
    out: list[str] = []
    if inp.format not in AGENT_FORMATS:
        out.append(f"{platform_where}secrets.agentFormat: {inp.format!r}; accepted: {', '.join(AGENT_FORMATS)}")
    if not _DURATION.fullmatch(inp.render_interval):
        out.append(
            f"{platform_where}secrets.renderInterval: {inp.render_interval!r}; accepted: a duration such as 30s, "
            "5m or 1h"
        )
    return out


def _connection_problems(inp: AgentInput) -> list[str]:
    out: list[str] = []
    for name, value in (
        ("vault_address", inp.vault_address),
        ("role", inp.role),
        ("auth_mount", inp.auth_mount),
        ("kv_mount", inp.kv_mount),
        ("secrets_prefix", inp.secrets_prefix),
        ("ca_file", inp.ca_file),
        ("token_path", inp.token_path),
        ("token_audience", inp.token_audience),
    ):
        if _hcl_problem(value):
            out.append(f"{name}: {value!r}: {_hcl_problem(value)}")
    if not inp.vault_address.startswith(("http://", "https://")):
        out.append(f"vault_address: {inp.vault_address!r}; accepted: an http:// or https:// URL")
    elif inp.ca_file and not inp.vault_address.startswith("https://"):
        out.append(f"ca_file: {inp.ca_file!r} is set but vault_address {inp.vault_address!r} is not https://")
    if not posixpath.isabs(inp.token_path) or posixpath.dirname(inp.token_path) in ("/", SECRETS_DIR, CONFIG_DIR):
        out.append(
            f"token_path: {inp.token_path!r}; accepted: an absolute path in a directory of its own "
            f"(not /, {SECRETS_DIR} or {CONFIG_DIR})"
        )
    return out


def _require_valid(inp: AgentInput) -> None:
    problems = check(inp)
    if problems:
        raise ValueError("invalid Vault Agent input:\n" + "\n".join(f"  - {p}" for p in problems))


def _ref_problems(text: str, where: str, declared: Mapping[str, set[str]]) -> list[str]:
    out = []
    for m in _TOKEN.finditer(text):
        ref = m.group(1)
        if ref is None:
            continue
        parts = ref.split(".")
        if len(parts) != 3 or parts[0] != "resources" or parts[2] not in declared.get(parts[1], set()):
            out.append(
                f"{where}: ${{{ref}}} is not a declared secret key; accepted: ${{resources.<resource>.<key>}} of a "
                f"declared vault-secret resource (write $${{...}} for a literal)"
            )
    return out


# --------------------------------------------------------------------------------------------------
# Escaping: Go templates (consul-template), HCL strings, POSIX shell
# --------------------------------------------------------------------------------------------------
def go_string(value: str) -> str:
    """A Go interpreted string literal (JSON's escapes are a subset of Go's)."""
    return json.dumps(value, ensure_ascii=True)


def template_literal(text: str) -> str:
    """``text`` verbatim in a Go template: only ``{{`` starts an action, so only it is escaped."""
    return text.replace("{{", '{{"{{"}}')


def shell_single_quoted(text: str) -> str:
    """The body of a single-quoted shell word: a ``'`` closes, emits an escaped quote, reopens."""
    return text.replace("'", "'\\''")


def _hcl_problem(value: str) -> str:
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return "contains a control character; accepted: printable text"
    if "${" in value or "%{" in value:
        return "contains an HCL interpolation (${ or %{); accepted: text without it"
    return ""


def hcl_string(value: str) -> str:
    """A double-quoted HCL string; values with control characters or interpolations are refused by ``check``."""
    problem = _hcl_problem(value)
    if problem:
        raise ValueError(f"{value!r} {problem}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --------------------------------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------------------------------
def secret_path(inp: AgentInput, resource: str) -> str:
    """The KV v2 read path of one secret resource."""
    return f"{inp.kv_mount}/data/{inp.secrets_prefix}/{inp.service}/{resource}"


def _segments(text: str) -> list[str | tuple[str, str]]:
    """Literal text and ``(resource, key)`` placeholders, Score's ``$$`` unescaped to ``$``."""
    out: list[str | tuple[str, str]] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        if m.start() > pos:
            out.append(text[pos : m.start()])
        parts = (m.group(1) or "").split(".")
        if m.group(1) is None:
            out.append("$")
        elif len(parts) == 3 and parts[0] == "resources":
            out.append((parts[1], parts[2]))
        else:  # not a secret placeholder (``check`` reports it): kept as text
            out.append(m.group(0))
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return out


def _has_placeholders(text: str) -> bool:
    return bool(PLACEHOLDER.search(text)) and any(isinstance(s, tuple) for s in _segments(text))


def _value_template(inp: AgentInput, text: str, *, sh_quoted: bool = False) -> str:
    """The consul-template text that renders ``text`` with its placeholders resolved from Vault."""
    parts = []
    for seg in _segments(text):
        if isinstance(seg, str):
            parts.append(template_literal(shell_single_quoted(seg) if sh_quoted else seg))
        else:
            res, key = seg
            pipe = " | replaceAll \"'\" \"'\\\\''\"" if sh_quoted else ""
            parts.append(f"{{{{ with secret {go_string(secret_path(inp, res))} }}}}{{{{ .Data.data.{key}{pipe} }}}}")
            parts.append("{{ end }}")
    return "".join(parts)


def _single_placeholder(text: str) -> tuple[str, str] | None:
    segs = _segments(text)
    return segs[0] if len(segs) == 1 and isinstance(segs[0], tuple) else None


def key_file(resource: str, key: str) -> str:
    return f"{SECRETS_DIR}/{resource}/{key}"


def variable_file(inp: AgentInput, var: str) -> str:
    """Where the value of a variable holding placeholders is rendered (what ``<VAR>_FILE`` points at)."""
    single = _single_placeholder(inp.variables[var])
    return key_file(*single) if single else f"{SECRETS_DIR}/{VARS_DIR}/{var}"


def rendered_file(path: str) -> str:
    """Where a Score file is rendered (it is mounted at ``path`` with ``subPath``)."""
    return f"{SECRETS_DIR}/{FILES_DIR}/{path.lstrip('/')}"


def _secret_variables(inp: AgentInput) -> list[str]:
    return [v for v, value in inp.variables.items() if _has_placeholders(value)]


@dataclass(frozen=True)
class _Template:
    destination: str
    text: str
    perms: str


def _templates(inp: AgentInput) -> list[_Template]:
    out = [
        _Template(key_file(res.name, key), _value_template(inp, f"${{resources.{res.name}.{key}}}"), SECRET_FILE_MODE)
        for res in inp.secrets
        for key in res.keys
    ]
    for var in _secret_variables(inp):
        if _single_placeholder(inp.variables[var]) is None:
            out.append(_Template(variable_file(inp, var), _value_template(inp, inp.variables[var]), SECRET_FILE_MODE))
    for f in inp.files:
        out.append(_Template(rendered_file(f.path), _value_template(inp, f.content), f.mode.rjust(4, "0")))
    if inp.format == "env":
        lines = [
            f"export {var}='{_value_template(inp, inp.variables[var], sh_quoted=True)}'\n"
            for var in _secret_variables(inp)
        ]
        out.append(_Template(ENV_FILE, "".join(lines), SECRET_FILE_MODE))
    return out


def agent_templates(inp: AgentInput) -> dict[str, str]:
    """Destination path -> consul-template text, for every file the agent renders."""
    _require_valid(inp)
    return {t.destination: t.text for t in _templates(inp)}


def _source_key(index: int, destination: str) -> str:
    """The ConfigMap key of a template: an index (unique) and the destination (readable)."""
    rel = destination.removeprefix(SECRETS_DIR + "/")
    return f"{index:02d}-{re.sub(r'[^A-Za-z0-9.]+', '-', rel).strip('-.')}.ctmpl"


# --------------------------------------------------------------------------------------------------
# The agent configuration
# --------------------------------------------------------------------------------------------------
def agent_config(inp: AgentInput) -> str:
    """The agent's HCL: Kubernetes auto-auth with the projected token, no sink, one template per file."""
    _require_valid(inp)
    vault = [f"  address = {hcl_string(inp.vault_address)}"]
    if inp.ca_file:
        vault.append(f"  ca_cert = {hcl_string(inp.ca_file)}")
    lines = [
        f"# Vault Agent for {inp.service}: rendered by components/service/vault_agent.py (docs/SERVICES_SECRETS.md)",
        'log_format      = "json"',
        "exit_after_auth = false",
        "",
        "vault {",
        *vault,
        "}",
        "",
        "# Kubernetes auth with the projected service-account token; no sink: the token stays in memory.",
        "auto_auth {",
        '  method "kubernetes" {',
        f"    mount_path = {hcl_string('auth/' + inp.auth_mount)}",
        "    config = {",
        f"      role       = {hcl_string(inp.role)}",
        f"      token_path = {hcl_string(inp.token_path)}",
        "    }",
        "  }",
        "}",
        "",
        "template_config {",
        f"  static_secret_render_interval = {hcl_string(inp.render_interval)}",
        "  exit_on_retry_failure         = true",
        "}",
    ]
    for i, t in enumerate(_templates(inp)):
        lines += [
            "",
            "template {",
            f"  source               = {hcl_string(CONFIG_DIR + '/' + _source_key(i, t.destination))}",
            f"  destination          = {hcl_string(t.destination)}",
            f"  perms                = {hcl_string(t.perms)}",
            "  error_on_missing_key = true",
            "}",
        ]
    return "\n".join(lines) + "\n"


def config_map_name(service: str) -> str:
    return f"{service}-vault-agent"


def config_map_data(inp: AgentInput) -> dict[str, str]:
    """The ConfigMap ``<service>-vault-agent``: agent.hcl and the template sources it names."""
    data = {CONFIG_FILE: agent_config(inp)}
    for i, t in enumerate(_templates(inp)):
        data[_source_key(i, t.destination)] = t.text
    return data


# --------------------------------------------------------------------------------------------------
# The pod parts
# --------------------------------------------------------------------------------------------------
def rendered_paths(inp: AgentInput) -> list[str]:
    """Every file the agent renders (what the startup probe waits for)."""
    return [t.destination for t in _templates(inp)]


def probe_command(inp: AgentInput) -> list[str]:
    """Succeeds once every rendered file exists (exec probe in the sidecar; the image has a shell)."""
    test = " && ".join(f"test -f {shlex.quote(p)}" for p in rendered_paths(inp))
    return ["/bin/sh", "-c", test]


def _exec_probe(inp: AgentInput, *, period: int, failure_threshold: int) -> Obj:
    return {
        "exec": {"command": probe_command(inp)},
        "period_seconds": period,
        "timeout_seconds": 3,
        "failure_threshold": failure_threshold,
    }


def pod_parts(inp: AgentInput) -> AgentPodParts:
    """The native sidecar, its volumes, and the app container's mounts and ``_FILE`` variables."""
    _require_valid(inp)
    token_dir, token_file = posixpath.split(inp.token_path)
    sidecar = k8s.container(
        SIDECAR_NAME,
        inp.image,
        resources=SIDECAR_RESOURCES,
        command=["vault", "agent", f"-config={CONFIG_DIR}/{CONFIG_FILE}"],
        volume_mounts=[
            k8s.mount(CONFIG_VOLUME, CONFIG_DIR, read_only=True),
            k8s.mount(SECRETS_VOLUME, SECRETS_DIR),
            k8s.mount(TOKEN_VOLUME, token_dir, read_only=True),
        ],
        startup=_exec_probe(inp, period=STARTUP_PERIOD_SECONDS, failure_threshold=STARTUP_FAILURE_THRESHOLD),
        liveness=_exec_probe(inp, period=30, failure_threshold=3),
    )
    sidecar["restart_policy"] = "Always"  # a native sidecar: started before, and outliving, the app container
    volumes = [
        {"name": SECRETS_VOLUME, "empty_dir": {"medium": "Memory", "size_limit": SECRETS_SIZE_LIMIT}},
        k8s.config_volume(CONFIG_VOLUME, config_map_name(inp.service)),
        {
            "name": TOKEN_VOLUME,
            "projected": {
                "sources": [
                    {
                        "service_account_token": {
                            "audience": inp.token_audience,
                            "expiration_seconds": TOKEN_EXPIRATION_SECONDS,
                            "path": token_file,
                        }
                    }
                ],
            },
        },
    ]
    app_mounts = [k8s.mount(SECRETS_VOLUME, SECRETS_DIR, read_only=True)]
    app_mounts += [
        k8s.mount(
            SECRETS_VOLUME, f.path, read_only=True, sub_path=rendered_file(f.path).removeprefix(SECRETS_DIR + "/")
        )
        for f in inp.files
    ]
    app_env = [k8s.env_var(f"{var}_FILE", variable_file(inp, var)) for var in _secret_variables(inp)]
    return AgentPodParts(
        sidecar=sidecar,
        volumes=volumes,
        app_mounts=app_mounts,
        app_env=app_env,
        config_map_name=config_map_name(inp.service),
        config_map_data=config_map_data(inp),
    )


def plain_env(inp: AgentInput) -> list[Obj]:
    """The app container's variables without placeholders: Score's ``$$`` unescaped, then every ``$``
    doubled for Kubernetes (which reduces ``$$`` to ``$`` and expands ``$(VAR)``), so the process sees
    the Score value verbatim."""
    out = []
    for var, value in inp.variables.items():
        if not _has_placeholders(value):
            text = "".join(s for s in _segments(value) if isinstance(s, str))
            out.append(k8s.env_var(var, text.replace("$", "$$")))
    return out
