"""Read, validate and merge a service's definition into a ``ServiceSpec``.

``load_services(selection, ...)`` takes the stack's ``hardening:services`` map (service name -> per-stack
overrides) and, for each name, reads ``services/<name>/score.yaml`` and ``services/<name>/platform.yaml``.
Every problem in every file is collected and raised together as one ``ServiceError`` (a ``ConfigError``:
``pulumi preview`` and the render print it without a traceback, the render exits 2, nothing is
written), each message naming the file, the field, the bad value and what is accepted.

Checks, beyond the two JSON schemas (Score's published ``score.dev/v1b1`` schema, vendored, and the
platform section's own): one container; Score features the platform does not provide (resource types
other than ``vault-secret``, volumes, exec probes, file sources); probes and the metrics endpoint on a
declared port; placeholders that refer to a declared secret key; SLO objectives in (0, 100); names
whose derived Kubernetes names fit their limits; unique service names; namespaces that are neither a
platform namespace nor reserved, and that one team does not share with another.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from components import vendored, versions, yamltext
from components.config import DNS_LABEL, HOST_NAME, IMAGE_REFERENCE, NAMESPACE, ConfigError, Resources, parse_resources
from components.service import spec as sp

SERVICES_DIR = "services"
SCORE_FILE = "score.yaml"
PLATFORM_FILE = "platform.yaml"
PLATFORM_API_VERSION = "hardening/v1"
PLATFORM_KIND = "ServicePlatform"
# Derived names: <name>-preview (Service), <name>-canary, allow-<name> (NetworkPolicy), <name>-slo
# (AnalysisTemplate): the longest suffix is 8 characters, and every one must stay a DNS-1123 label.
MAX_NAME = 63 - len("-preview")
RESERVED_NAMESPACES = frozenset(
    {"default", "monitoring", "logging", "vault", "opencost", "argo-rollouts", "node-exporter", "ingress-nginx"}
)
# A Service name is a DNS-1035 label: it starts with a letter.
SERVICE_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
OVERRIDE_KEYS = ("tag", "replicas", "maxReplicas", "resources", "host", "canary")
_SECRET_KEY = re.compile(r"[a-z0-9_]{1,64}")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


class ServiceError(ConfigError):
    """Invalid service definitions or selection; one message per problem, each naming file and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        Exception.__init__(self, f"invalid service definitions ({len(problems)} problem(s)):\n{lines}")


_DURATION = {"type": "string", "pattern": r"^[0-9]+(s|m|h)$"}
PLATFORM_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "team", "costCenter", "repository"],
    "properties": {
        "apiVersion": {"const": PLATFORM_API_VERSION},
        "kind": {"const": PLATFORM_KIND},
        "team": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"},
        "costCenter": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"},
        "namespace": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"},
        "runAsUser": {"type": "integer", "minimum": 1, "maximum": 2147483647},
        "metrics": {
            "type": "object",
            "additionalProperties": False,
            "required": ["port"],
            "properties": {
                "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "path": {"type": "string", "pattern": r"^/[A-Za-z0-9._~/-]*$"},
            },
        },
        "sli": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "durationHistogram": {"type": "string", "pattern": r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"},
                "requestsCounter": {"type": "string", "pattern": r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"},
                "statusLabel": {"type": "string", "pattern": r"^[a-zA-Z_][a-zA-Z0-9_]*$"},
                "routeLabel": {"type": "string", "pattern": r"^[a-zA-Z_][a-zA-Z0-9_]*$"},
                "errorStatusRegex": {"type": "string", "pattern": r"^[0-9.|x\[\]-]{1,40}$"},
            },
        },
        "slos": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "kind", "objective"],
                "properties": {
                    "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$"},
                    "kind": {"enum": list(sp.SLO_KINDS)},
                    "objective": {"type": "number"},
                    "window": {"enum": list(sp.SLO_WINDOWS)},
                    "thresholdSeconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 600},
                },
            },
        },
        "thresholds": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "errorRatio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                "latencyP95Seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 600},
                "canaryMinRequests": {"type": "integer", "minimum": 1, "maximum": 100000},
            },
        },
        "delivery": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "strategy": {"enum": list(sp.STRATEGIES)},
                "weights": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 99}, "minItems": 1},
                "pause": _DURATION,
                "analysisInterval": _DURATION,
                "failureLimit": {"type": "integer", "minimum": 0, "maximum": 10},
            },
        },
        "secrets": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "delivery": {"enum": list(sp.SECRET_DELIVERIES)},
                "agentFormat": {"enum": list(sp.AGENT_FORMATS)},
                "renderInterval": _DURATION,
            },
        },
        "repository": {
            "type": "object",
            "additionalProperties": False,
            "required": ["owner", "name"],
            "properties": {
                "owner": {"type": "string", "pattern": r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$"},
                "name": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,100}$"},
                "dockerfile": {"type": "string", "pattern": r"^[A-Za-z0-9_./-]{1,200}$"},
                "context": {"type": "string", "pattern": r"^[A-Za-z0-9_./-]{1,200}$"},
                "language": {"enum": list(sp.LANGUAGES)},
                "languageVersion": {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+){0,2}$"},
                "testCommand": {"type": "string", "pattern": r"^[^\n\r`$]{0,300}$"},
            },
        },
    },
}


@cache
def score_schema() -> dict[str, Any]:
    """Score's published workload schema (vendored; its SHA-256 is checked)."""
    text = vendored.read_verified(versions.SCORE_SPEC_PACKAGE, versions.SCORE_SPEC_VERSION, versions.SCORE_SCHEMA)
    return dict(json.loads(text))


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def _schema_problems(doc: Any, schema: Mapping[str, Any], file: str) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    out = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]):
        out.append(f"{file}: {_where(err)}: {err.message}")
    return out


def _read_yaml(path: Path, rel: str, problems: list[str]) -> Any:
    if not path.is_file():
        problems.append(f"{rel}: missing")
        return None
    try:
        return yamltext.load_config(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problems.append(f"{rel}:{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}")
        return None


def available_services(root: Path) -> list[str]:
    base = root / SERVICES_DIR
    return sorted(p.name for p in base.iterdir() if p.is_dir() and (p / SCORE_FILE).exists()) if base.is_dir() else []


def _placeholders(text: str) -> list[str]:
    return PLACEHOLDER.findall(text.replace("$${", ""))


def _check_placeholders(
    text: str, where: str, secrets: Mapping[str, tuple[str, ...]], name: str, problems: list[str]
) -> str:
    """Resolve ``${metadata.name}``; check every ``${resources.<r>.<key>}`` names a declared secret key."""
    for ref in _placeholders(text):
        parts = ref.split(".")
        if ref == "metadata.name":
            continue
        if len(parts) == 3 and parts[0] == "resources":
            res, key = parts[1], parts[2]
            if res not in secrets:
                problems.append(
                    f"{where}: ${{{ref}}} refers to resource {res!r}, which is not declared; declared "
                    f"{sp.VAULT_SECRET_TYPE} resources: {', '.join(sorted(secrets)) or 'none'}"
                )
            elif key not in secrets[res]:
                problems.append(
                    f"{where}: ${{{ref}}} refers to key {key!r} of {res!r}, which lists only "
                    f"{', '.join(secrets[res])} in params.keys"
                )
            continue
        problems.append(
            f"{where}: ${{{ref}}} is not a placeholder the platform resolves; accepted: ${{metadata.name}} or "
            f"${{resources.<{sp.VAULT_SECRET_TYPE} resource>.<key>}} (write $${{...}} for a literal)"
        )
    return text.replace("${metadata.name}", name)


def _resources(value: Mapping[str, Any] | None, default: Resources, where: str, problems: list[str]) -> Resources:
    if not value:
        return default
    req, lim = value.get("requests") or {}, value.get("limits") or {}
    cpu_req = str(req.get("cpu", default.cpu_request))
    mem_req = str(req.get("memory", default.memory_request))
    text = f"cpu={cpu_req}/{lim.get('cpu', cpu_req)} memory={mem_req}/{lim.get('memory', mem_req)}"
    try:
        return parse_resources(text)
    except ValueError as exc:
        problems.append(f"{where}: {text!r} is invalid; accepted: {exc} (Kubernetes quantities with m, Mi, Gi)")
        return default


def _probe(value: Mapping[str, Any] | None, where: str, ports: set[int], problems: list[str]) -> sp.HttpProbe | None:
    if not value:
        return None
    if "exec" in value:
        problems.append(f"{where}.exec: exec probes are not provided by the platform; accepted: httpGet")
    http = value.get("httpGet")
    if not http:
        return None
    for unsupported in ("host", "scheme", "httpHeaders"):
        if unsupported in http:
            problems.append(f"{where}.httpGet.{unsupported}: not provided by the platform; accepted: path and port")
    port = int(http["port"])
    if port not in ports:
        problems.append(
            f"{where}.httpGet.port: {port} is not a declared port; declared container ports (service.ports "
            f"targetPort): {', '.join(str(p) for p in sorted(ports)) or 'none'}"
        )
    return sp.HttpProbe(str(http["path"]), port)


@dataclass
class _Where:
    """Where a service's definition lives, for messages, and the problems found so far."""

    name: str
    problems: list[str]

    @property
    def folder(self) -> str:
        return f"{SERVICES_DIR}/{self.name}"

    @property
    def score(self) -> str:
        return f"{self.folder}/{SCORE_FILE}"

    @property
    def platform(self) -> str:
        return f"{self.folder}/{PLATFORM_FILE}"

    @property
    def stack(self) -> str:
        return f"{NAMESPACE}:services.{self.name}"

    def add(self, message: str) -> None:
        self.problems.append(message)


def _check_metadata(score: Mapping[str, Any], w: _Where) -> None:
    meta_name = score["metadata"]["name"]
    if meta_name != w.name:
        w.add(f"{w.score}: metadata.name: {meta_name!r} differs from its folder {w.folder}/; accepted: {w.name!r}")
    if not SERVICE_NAME.fullmatch(w.name) or len(w.name) > MAX_NAME:
        w.add(
            f"{w.score}: metadata.name: {w.name!r}; accepted: a DNS-1035 label (a-z, 0-9, -, starting with a letter: "
            f"Kubernetes Service names) of at most {MAX_NAME} characters, so that derived names (<name>-preview, "
            "allow-<name>) stay within 63"
        )
    for key in sorted(set(score) - {"apiVersion", "metadata", "containers", "service", "resources"}):
        w.add(f"{w.score}: {key}: not provided by the platform")
    for key in sorted(set(score["metadata"]) - {"name"}):
        w.add(f"{w.score}: metadata.{key}: not provided by the platform; accepted: metadata.name only")


def _secret_resources(score: Mapping[str, Any], w: _Where) -> dict[str, tuple[str, ...]]:
    """Score resources of the platform's ``vault-secret`` type: resource name -> its keys."""
    secrets: dict[str, tuple[str, ...]] = {}
    for rname, res in (score.get("resources") or {}).items():
        where = f"{w.score}: resources.{rname}"
        if res["type"] != sp.VAULT_SECRET_TYPE:
            w.add(
                f"{where}.type: {res['type']!r} is not a resource type this platform provides; accepted: "
                f"{sp.VAULT_SECRET_TYPE}"
            )
            continue
        for extra in sorted(set(res) - {"type", "params"}):
            w.add(f"{where}.{extra}: not provided for {sp.VAULT_SECRET_TYPE}; accepted: type and params")
        keys = (res.get("params") or {}).get("keys")
        if not isinstance(keys, list) or not keys or not all(_SECRET_KEY.fullmatch(str(k)) for k in keys):
            w.add(f"{where}.params.keys: {keys!r}; accepted: a non-empty list of key names (a-z, 0-9, _)")
        elif not DNS_LABEL.fullmatch(rname) or len(rname) > 40:
            w.add(f"{where}: resource name {rname!r}; accepted: a DNS-1123 label of at most 40 characters")
        else:
            secrets[rname] = tuple(keys)
    return secrets


def _service_ports(score: Mapping[str, Any], w: _Where) -> list[sp.ServicePort]:
    ports = []
    for pname, p in (((score.get("service") or {}).get("ports")) or {}).items():
        if not DNS_LABEL.fullmatch(pname) or len(pname) > 15:
            w.add(f"{w.score}: service.ports.{pname}: accepted: a port name of at most 15 characters (a-z, 0-9, -)")
        if p.get("protocol", "TCP") != "TCP":
            w.add(f"{w.score}: service.ports.{pname}.protocol: {p['protocol']!r}; accepted: TCP")
        ports.append(sp.ServicePort(pname, int(p["port"]), int(p.get("targetPort", p["port"]))))
    if not ports:
        w.add(f"{w.score}: service.ports: none declared; accepted: at least one (the HTTP port)")
    return ports


def _metrics(platform: Mapping[str, Any], ports: list[sp.ServicePort], w: _Where) -> sp.Metrics:
    doc = platform.get("metrics") or {}
    metrics = sp.Metrics(int(doc.get("port", ports[0].target_port if ports else 8080)), doc.get("path", "/metrics"))
    declared = {p.target_port for p in ports}
    if ports and metrics.port not in declared:
        w.add(
            f"{w.platform}: metrics.port: {metrics.port} is not a declared port; declared container ports: "
            f"{', '.join(str(p) for p in sorted(declared))}"
        )
    return metrics


def _container_parts(
    c: Mapping[str, Any], cwhere: str, secrets: Mapping[str, tuple[str, ...]], ports: set[int], w: _Where
) -> tuple[dict[str, str], list[sp.ContainerFile], sp.HttpProbe | None, sp.HttpProbe | None]:
    """(variables, files, liveness, readiness) of the one Score container."""
    if "volumes" in c:
        w.add(f"{cwhere}.volumes: not provided by the platform (use files, or a vault-secret)")
    variables: dict[str, str] = {}
    for var, value in (c.get("variables") or {}).items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
            w.add(f"{cwhere}.variables.{var}: accepted: an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
        variables[var] = _check_placeholders(str(value), f"{cwhere}.variables.{var}", secrets, w.name, w.problems)
    files = []
    for path, f in (c.get("files") or {}).items():
        fwhere = f"{cwhere}.files.{path}"
        if "content" not in f:
            w.add(f"{fwhere}: only inline content is provided by the platform; accepted: content")
        elif not re.fullmatch(r"/[A-Za-z0-9._/-]+", path) or "/../" in path or path.startswith("/vault/"):
            w.add(f"{fwhere}: accepted: an absolute path of [A-Za-z0-9._/-], not under /vault/")
        else:
            content = _check_placeholders(str(f["content"]), fwhere, secrets, w.name, w.problems)
            files.append(sp.ContainerFile(path, content, str(f.get("mode", "0400"))))
    liveness = _probe(c.get("livenessProbe"), f"{cwhere}.livenessProbe", ports, w.problems)
    readiness = _probe(c.get("readinessProbe"), f"{cwhere}.readinessProbe", ports, w.problems)
    return variables, files, liveness, readiness


def _image(image: str, repo_doc: Mapping[str, Any], overrides: Mapping[str, Any], cwhere: str, w: _Where) -> str:
    """The full image reference: the Score image's repository ('.': ghcr.io/<owner>/<repo>) at the stack's tag,
    else the Score tag; never without an immutable tag."""
    base = f"ghcr.io/{repo_doc['owner'].lower()}/{repo_doc['name'].lower()}" if image == "." else image
    m = IMAGE_REFERENCE.fullmatch(base)
    if not m or not base.isascii():
        w.add(
            f"{cwhere}.image: {image!r}; accepted: an image reference (registry/repository[:tag]) in ASCII, "
            "or '.' for the image the service's repository builds"
        )
        return ""
    tag = m.group("tag") or ""
    if "tag" in overrides:
        tag = str(overrides["tag"])
        if not _TAG.fullmatch(tag) or tag == "latest":
            w.add(
                f"{w.stack}.tag: {tag!r}; accepted: an immutable image tag ([A-Za-z0-9_][A-Za-z0-9_.-]*, "
                "not 'latest'), e.g. 1.4.2 or the commit SHA"
            )
    if not tag or tag == "latest":
        w.add(f"{cwhere}.image: {image!r} has no immutable tag; set one there or in {w.stack}.tag")
    return f"{m.group('repo')}:{tag}"


def _scale(overrides: Mapping[str, Any], w: _Where) -> tuple[int, int, str]:
    """(replicas, maxReplicas, host) from the stack's overrides."""

    def integer(key: str, default: int, lo: int, hi: int) -> int:
        value = overrides.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            w.add(f"{w.stack}.{key}: {value!r}; accepted: an integer from {lo} to {hi}")
            return default
        return value

    replicas = integer("replicas", 1, 1, 100)
    max_replicas = integer("maxReplicas", 0, 0, 100)
    if 0 < max_replicas < replicas:
        w.add(
            f"{w.stack}.maxReplicas: {max_replicas} is below replicas {replicas}; accepted: 0 (no HPA) or "
            "at least replicas"
        )
    host = overrides.get("host", "")
    if host and (not isinstance(host, str) or not HOST_NAME.fullmatch(host)):
        w.add(f"{w.stack}.host: {host!r}; accepted: a DNS host name such as orders.example.com, or empty")
        host = ""
    return replicas, max_replicas, host


def _resources_with_override(c: Mapping[str, Any], overrides: Mapping[str, Any], cwhere: str, w: _Where) -> Resources:
    resources = _resources(c.get("resources"), sp.DEFAULT_RESOURCES, f"{cwhere}.resources", w.problems)
    if "resources" in overrides:
        try:
            resources = parse_resources(overrides["resources"])
        except ValueError as exc:
            w.add(f"{w.stack}.resources: {overrides['resources']!r}; accepted: {exc}")
    return resources


def _delivery(platform: Mapping[str, Any], overrides: Mapping[str, Any], w: _Where) -> sp.Delivery:
    dd = platform.get("delivery") or {}
    delivery = sp.Delivery(
        strategy=dd.get("strategy", "canary"),
        weights=tuple(dd.get("weights", sp.Delivery.weights)),
        pause=dd.get("pause", sp.Delivery.pause),
        analysis_interval=dd.get("analysisInterval", sp.Delivery.analysis_interval),
        failure_limit=dd.get("failureLimit", sp.Delivery.failure_limit),
    )
    canary = overrides.get("canary")
    if canary is None:
        return delivery
    if not isinstance(canary, Mapping) or set(canary) - {"weights", "pause"}:
        w.add(f"{w.stack}.canary: {canary!r}; accepted: a map with weights (list) and/or pause (e.g. 30s)")
        return delivery
    weights = canary.get("weights", list(delivery.weights))
    pause = canary.get("pause", delivery.pause)
    if not (
        isinstance(weights, list)
        and weights
        and all(isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= 99 for x in weights)
        and all(b > a for a, b in itertools.pairwise(weights))
    ):
        w.add(f"{w.stack}.canary.weights: {weights!r}; accepted: integer weights strictly increasing within 1..99")
    elif not isinstance(pause, str) or not re.fullmatch(r"[0-9]+(s|m|h)", pause):
        w.add(f"{w.stack}.canary.pause: {pause!r}; accepted: a duration such as 30s or 1m")
    else:
        delivery = dataclasses.replace(delivery, weights=tuple(weights), pause=pause)
    return delivery


def _slos(platform: Mapping[str, Any], w: _Where) -> list[sp.Slo]:
    slos: list[sp.Slo] = []
    for i, s in enumerate(platform.get("slos") or []):
        where = f"{w.platform}: slos[{i}]"
        objective = s["objective"]
        if isinstance(objective, bool) or not 0 < float(objective) < 100:
            w.add(f"{where}.objective: {objective!r}; accepted: a percentage above 0 and below 100, e.g. 99.9")
            continue
        if s["name"] in {x.name for x in slos}:
            w.add(f"{where}.name: {s['name']!r} is used twice")
        threshold = float(s.get("thresholdSeconds", 0))
        if s["kind"] == "latency" and threshold <= 0:
            w.add(f"{where}.thresholdSeconds: missing; accepted: the latency objective in seconds (a bucket boundary)")
        if s["kind"] == "availability" and "thresholdSeconds" in s:
            w.add(f"{where}.thresholdSeconds: only latency SLOs have a threshold")
        slos.append(sp.Slo(s["name"], s["kind"], float(objective), s.get("window", "28d"), threshold))
    if not any(s.kind == "availability" for s in slos):
        slos.insert(0, sp.Slo("availability", "availability", 99.9, "28d"))
    return slos


def _contract(platform: Mapping[str, Any]) -> tuple[sp.SliContract, sp.Thresholds, sp.SecretsDelivery]:
    td = platform.get("thresholds") or {}
    thresholds = sp.Thresholds(
        error_ratio=float(td.get("errorRatio", sp.Thresholds.error_ratio)),
        latency_p95_seconds=float(td.get("latencyP95Seconds", sp.Thresholds.latency_p95_seconds)),
        canary_min_requests=int(td.get("canaryMinRequests", sp.Thresholds.canary_min_requests)),
    )
    sli_doc = platform.get("sli") or {}
    sli = sp.SliContract(
        duration_histogram=sli_doc.get("durationHistogram", sp.SliContract.duration_histogram),
        requests_counter=sli_doc.get("requestsCounter", ""),
        status_label=sli_doc.get("statusLabel", sp.SliContract.status_label),
        error_status_regex=sli_doc.get("errorStatusRegex", sp.SliContract.error_status_regex),
        route_label=sli_doc.get("routeLabel", sp.SliContract.route_label),
    )
    sd = platform.get("secrets") or {}
    delivery = sp.SecretsDelivery(
        sd.get("delivery", "agent"), sd.get("agentFormat", "files"), sd.get("renderInterval", "5m")
    )
    return sli, thresholds, delivery


def _repository(doc: Mapping[str, Any]) -> sp.Repository:
    return sp.Repository(
        owner=doc["owner"],
        name=doc["name"],
        dockerfile=doc.get("dockerfile", "Dockerfile"),
        context=doc.get("context", "."),
        language=doc.get("language", "other"),
        language_version=doc.get("languageVersion", ""),
        test_command=doc.get("testCommand", ""),
    )


def _namespace(platform: Mapping[str, Any], w: _Where) -> str:
    namespace = str(platform.get("namespace", platform["team"]))
    if namespace in RESERVED_NAMESPACES or namespace.startswith("kube-"):
        w.add(
            f"{w.platform}: namespace: {namespace!r} is a platform or reserved namespace; accepted: a namespace "
            "of the service's team (not default, kube-*, or the platform's own)"
        )
    return namespace


def _single_line_problems(doc: Any, file: str, where: str = "") -> list[str]:
    """Every string of the platform section is one line: a JSON-schema ``pattern`` ending in ``$`` still
    matches before a final newline in Python, and a name such as ``'orders-api\n'`` would reach the Vault
    role's bound claims or a Kubernetes name."""
    if isinstance(doc, Mapping):
        return [p for k, v in doc.items() for p in _single_line_problems(v, file, f"{where}.{k}" if where else str(k))]
    if isinstance(doc, list):
        return [p for i, v in enumerate(doc) for p in _single_line_problems(v, file, f"{where}[{i}]")]
    if isinstance(doc, str) and any(ord(ch) < 32 or ord(ch) == 127 for ch in doc):
        return [f"{file}: {where}: {doc!r}; accepted: a single line without control characters"]
    return []


def _read_definition(w: _Where, root: Path) -> tuple[Any, Any] | None:
    """Both files, parsed and checked against their JSON schemas (None: a problem was recorded)."""
    if not (root / w.folder).is_dir():
        w.add(f"{w.stack}: no folder {w.folder}/; available services: {', '.join(available_services(root)) or 'none'}")
        return None
    before = len(w.problems)
    score = _read_yaml(root / w.score, w.score, w.problems)
    platform = _read_yaml(root / w.platform, w.platform, w.problems)
    if score is None or platform is None:
        return None
    w.problems.extend(_schema_problems(score, score_schema(), w.score))
    w.problems.extend(_schema_problems(platform, PLATFORM_SCHEMA, w.platform))
    w.problems.extend(_single_line_problems(platform, w.platform))
    if len(w.problems) > before:
        return None
    if len(score["containers"]) != 1:
        w.add(
            f"{w.score}: containers: {len(score['containers'])} containers ({', '.join(score['containers'])}); "
            "accepted: exactly one (the platform adds the Vault Agent sidecar itself)"
        )
        return None
    return score, platform


def load_service(name: str, overrides: Mapping[str, Any], root: Path, problems: list[str]) -> sp.ServiceSpec | None:
    """One service (or None with ``problems`` filled in)."""
    w = _Where(name, problems)
    parsed = _read_definition(w, root)
    if parsed is None:
        return None
    before = len(problems)
    score, platform = parsed
    _check_metadata(score, w)
    secrets = _secret_resources(score, w)
    ports = _service_ports(score, w)
    metrics = _metrics(platform, ports, w)
    ((cname, c),) = score["containers"].items()
    cwhere = f"{w.score}: containers.{cname}"
    variables, files, liveness, readiness = _container_parts(c, cwhere, secrets, {p.target_port for p in ports}, w)
    for key in sorted(set(overrides) - set(OVERRIDE_KEYS)):
        w.add(f"{w.stack}.{key}: unknown key; accepted: {', '.join(OVERRIDE_KEYS)}")
    image = _image(str(c["image"]), platform["repository"], overrides, cwhere, w)
    replicas, max_replicas, host = _scale(overrides, w)
    resources = _resources_with_override(c, overrides, cwhere, w)
    delivery = _delivery(platform, overrides, w)
    slos = _slos(platform, w)
    sli, thresholds, secrets_delivery = _contract(platform)
    namespace = _namespace(platform, w)
    if len(problems) > before:
        return None
    return sp.ServiceSpec(
        name=name,
        team=platform["team"],
        cost_center=platform["costCenter"],
        namespace=namespace,
        container=sp.Container(
            name=name,
            image=image,
            command=tuple(c.get("command") or ()),
            args=tuple(c.get("args") or ()),
            variables=variables,
            files=tuple(files),
            liveness=liveness,
            readiness=readiness,
            resources=resources,
        ),
        ports=tuple(ports),
        metrics=metrics,
        sli=sli,
        slos=tuple(slos),
        thresholds=thresholds,
        delivery=delivery,
        secrets=tuple(sp.SecretResource(k, v) for k, v in secrets.items()),
        secrets_delivery=secrets_delivery,
        repository=_repository(platform["repository"]),
        replicas=replicas,
        max_replicas=max_replicas,
        host=host,
        run_as_user=int(platform.get("runAsUser", 10001)),
        source=w.folder,
    )


def load_services(selection: Mapping[str, Any], root: Path | None = None) -> tuple[sp.ServiceSpec, ...]:
    """Every selected service, validated together (``ServiceError`` lists every problem of every file)."""
    base = root or vendored.ROOT
    problems: list[str] = []
    if not isinstance(selection, Mapping) or not selection:
        raise ServiceError(
            [
                f"{NAMESPACE}:services: {selection!r}; accepted: a map of service name -> overrides, e.g. "
                "{orders-api: {tag: 1.0.0, replicas: 2}}; available: " + ", ".join(available_services(base))
            ]
        )
    specs: list[sp.ServiceSpec] = []
    for name, overrides in selection.items():
        if overrides is None:
            overrides = {}
        if not isinstance(overrides, Mapping):
            problems.append(
                f"{NAMESPACE}:services.{name}: {overrides!r}; accepted: a map of overrides ({', '.join(OVERRIDE_KEYS)})"
            )
            continue
        svc = load_service(str(name), overrides, base, problems)
        if svc is not None:
            specs.append(svc)
    problems += cross_checks(specs)
    if problems:
        raise ServiceError(problems)
    return tuple(specs)


def cross_checks(specs: Sequence[sp.ServiceSpec]) -> list[str]:
    problems: list[str] = []
    owner: dict[str, sp.ServiceSpec] = {}
    names: dict[str, sp.ServiceSpec] = {}
    for s in specs:
        if s.name in names:
            problems.append(
                f"{s.source}/{SCORE_FILE}: metadata.name: {s.name!r} is also the name of {names[s.name].source}"
            )
        names[s.name] = s
        first = owner.setdefault(s.namespace, s)
        if first.team != s.team:
            problems.append(
                f"{s.source}/{PLATFORM_FILE}: namespace: {s.namespace!r} belongs to team {first.team!r} "
                f"({first.source}); accepted: a namespace of team {s.team!r}"
            )
    hosts: dict[str, str] = {}
    for s in specs:
        if s.host and s.host in hosts:
            problems.append(f"{NAMESPACE}:services.{s.name}.host: {s.host!r} is also the host of {hosts[s.host]}")
        if s.host:
            hosts[s.host] = s.name
    return problems
