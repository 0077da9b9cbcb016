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

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from components import vendored, versions, yamltext
from components.config import NAMESPACE, ConfigError, Resources, parse_resources
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
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
OVERRIDE_KEYS = ("tag", "replicas", "maxReplicas", "resources", "host", "canary")
_HOST = re.compile(r"([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_IMAGE = re.compile(
    r"(?P<repo>[a-z0-9]+([._-][a-z0-9]+)*(\.[a-z0-9]+([._-][a-z0-9]+)*)*(:[0-9]+)?(/[a-z0-9]+([._/-][a-z0-9]+)*)+)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(@(?P<digest>sha256:[a-f0-9]{64}))?"
)


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


def load_service(name: str, overrides: Mapping[str, Any], root: Path, problems: list[str]) -> sp.ServiceSpec | None:
    """One service (or None with ``problems`` filled in)."""
    folder = f"{SERVICES_DIR}/{name}"
    score_rel, platform_rel = f"{folder}/{SCORE_FILE}", f"{folder}/{PLATFORM_FILE}"
    stack_where = f"{NAMESPACE}:services.{name}"
    if not (root / folder).is_dir():
        problems.append(
            f"{stack_where}: no folder {folder}/; available services: {', '.join(available_services(root)) or 'none'}"
        )
        return None
    before = len(problems)
    score = _read_yaml(root / score_rel, score_rel, problems)
    platform = _read_yaml(root / platform_rel, platform_rel, problems)
    if score is None or platform is None:
        return None
    problems += _schema_problems(score, score_schema(), score_rel)
    problems += _schema_problems(platform, PLATFORM_SCHEMA, platform_rel)
    if len(problems) > before:
        return None

    meta_name = score["metadata"]["name"]
    if meta_name != name:
        problems.append(
            f"{score_rel}: metadata.name: {meta_name!r} differs from its folder {folder}/; accepted: {name!r}"
        )
    if not DNS_LABEL.fullmatch(name) or len(name) > MAX_NAME:
        problems.append(
            f"{score_rel}: metadata.name: {name!r}; accepted: a DNS-1123 label (a-z, 0-9, -) of at most {MAX_NAME} "
            "characters, so that derived names (<name>-preview, allow-<name>) stay within 63"
        )
    for key in sorted(set(score) - {"apiVersion", "metadata", "containers", "service", "resources"}):
        problems.append(f"{score_rel}: {key}: not provided by the platform")
    for key in sorted(set(score["metadata"]) - {"name"}):
        problems.append(f"{score_rel}: metadata.{key}: not provided by the platform; accepted: metadata.name only")

    # Secrets: Score resources of the platform's vault-secret type.
    secrets: dict[str, tuple[str, ...]] = {}
    for rname, res in (score.get("resources") or {}).items():
        where = f"{score_rel}: resources.{rname}"
        if res["type"] != sp.VAULT_SECRET_TYPE:
            problems.append(
                f"{where}.type: {res['type']!r} is not a resource type this platform provides; accepted: "
                f"{sp.VAULT_SECRET_TYPE}"
            )
            continue
        for extra in sorted(set(res) - {"type", "params"}):
            problems.append(f"{where}.{extra}: not provided for {sp.VAULT_SECRET_TYPE}; accepted: type and params")
        keys = (res.get("params") or {}).get("keys")
        if (
            not isinstance(keys, list)
            or not keys
            or not all(isinstance(k, str) and re.fullmatch(r"[a-z0-9_]{1,64}", k) for k in keys)
        ):
            problems.append(f"{where}.params.keys: {keys!r}; accepted: a non-empty list of key names (a-z, 0-9, _)")
            continue
        if not DNS_LABEL.fullmatch(rname) or len(rname) > 40:
            problems.append(f"{where}: resource name {rname!r}; accepted: a DNS-1123 label of at most 40 characters")
            continue
        secrets[rname] = tuple(keys)

    ports_doc = ((score.get("service") or {}).get("ports")) or {}
    ports = []
    for pname, p in ports_doc.items():
        if not DNS_LABEL.fullmatch(pname) or len(pname) > 15:
            problems.append(
                f"{score_rel}: service.ports.{pname}: accepted: a port name of at most 15 characters (a-z, 0-9, -)"
            )
        if p.get("protocol", "TCP") != "TCP":
            problems.append(f"{score_rel}: service.ports.{pname}.protocol: {p['protocol']!r}; accepted: TCP")
        ports.append(sp.ServicePort(pname, int(p["port"]), int(p.get("targetPort", p["port"]))))
    if not ports:
        problems.append(f"{score_rel}: service.ports: none declared; accepted: at least one (the HTTP port)")
    container_ports = {p.target_port for p in ports}

    pf = platform
    metrics_doc = pf.get("metrics") or {}
    metrics = sp.Metrics(
        int(metrics_doc.get("port", ports[0].target_port if ports else 8080)), metrics_doc.get("path", "/metrics")
    )
    if ports and metrics.port not in container_ports:
        problems.append(
            f"{platform_rel}: metrics.port: {metrics.port} is not a declared port; declared container ports: "
            f"{', '.join(str(p) for p in sorted(container_ports))}"
        )

    containers = score["containers"]
    if len(containers) != 1:
        problems.append(
            f"{score_rel}: containers: {len(containers)} containers ({', '.join(containers)}); accepted: exactly one "
            "(the platform adds the Vault Agent sidecar itself)"
        )
        return None
    ((cname, c),) = containers.items()
    cwhere = f"{score_rel}: containers.{cname}"
    for unsupported in ("volumes",):
        if unsupported in c:
            problems.append(f"{cwhere}.{unsupported}: not provided by the platform (use files, or a vault-secret)")
    variables: dict[str, str] = {}
    for var, value in (c.get("variables") or {}).items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
            problems.append(
                f"{cwhere}.variables.{var}: accepted: an environment variable name ([A-Za-z_][A-Za-z0-9_]*)"
            )
        variables[var] = _check_placeholders(str(value), f"{cwhere}.variables.{var}", secrets, name, problems)
    files = []
    for path, f in (c.get("files") or {}).items():
        fwhere = f"{cwhere}.files.{path}"
        if "content" not in f:
            problems.append(f"{fwhere}: only inline content is provided by the platform; accepted: content")
            continue
        if not re.fullmatch(r"/[A-Za-z0-9._/-]+", path) or "/../" in path or path.startswith("/vault/"):
            problems.append(f"{fwhere}: accepted: an absolute path of [A-Za-z0-9._/-], not under /vault/")
            continue
        content = _check_placeholders(str(f["content"]), fwhere, secrets, name, problems)
        files.append(sp.ContainerFile(path, content, str(f.get("mode", "0400"))))
    liveness = _probe(c.get("livenessProbe"), f"{cwhere}.livenessProbe", container_ports, problems)
    readiness = _probe(c.get("readinessProbe"), f"{cwhere}.readinessProbe", container_ports, problems)

    # Image: the Score image's repository; the stack's tag override, else the Score tag.
    repo_doc = pf["repository"]
    image = str(c["image"])
    default_repo = f"ghcr.io/{repo_doc['owner'].lower()}/{repo_doc['name'].lower()}"
    base = default_repo if image == "." else image
    m = _IMAGE.fullmatch(base)
    if not m or not base.isascii():
        problems.append(
            f"{cwhere}.image: {image!r}; accepted: an image reference (registry/repository[:tag]) in ASCII, "
            "or '.' for the image the service's repository builds"
        )
        return None
    repo, tag = m.group("repo"), m.group("tag") or ""

    # Per-stack overrides.
    for key in sorted(set(overrides) - set(OVERRIDE_KEYS)):
        problems.append(f"{stack_where}.{key}: unknown key; accepted: {', '.join(OVERRIDE_KEYS)}")
    if "tag" in overrides:
        tag = str(overrides["tag"])
        if not _TAG.fullmatch(tag) or tag == "latest":
            problems.append(
                f"{stack_where}.tag: {tag!r}; accepted: an immutable image tag ([A-Za-z0-9_][A-Za-z0-9_.-]*, "
                "not 'latest'), e.g. 1.4.2 or the commit SHA"
            )
    if not tag or tag == "latest":
        problems.append(f"{cwhere}.image: {image!r} has no immutable tag; set one there or in {stack_where}.tag")
    full_image = f"{repo}:{tag}"

    def _int(key: str, default: int, lo: int, hi: int) -> int:
        value = overrides.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            problems.append(f"{stack_where}.{key}: {value!r}; accepted: an integer from {lo} to {hi}")
            return default
        return value

    replicas = _int("replicas", 1, 1, 100)
    max_replicas = _int("maxReplicas", 0, 0, 100)
    if 0 < max_replicas < replicas:
        problems.append(
            f"{stack_where}.maxReplicas: {max_replicas} is below replicas {replicas}; accepted: 0 (no HPA) or "
            "at least replicas"
        )
    resources = _resources(c.get("resources"), sp.Container.resources, f"{cwhere}.resources", problems)
    if "resources" in overrides:
        try:
            resources = parse_resources(overrides["resources"])
        except ValueError as exc:
            problems.append(f"{stack_where}.resources: {overrides['resources']!r}; accepted: {exc}")
    host = overrides.get("host", "")
    if host and (not isinstance(host, str) or not _HOST.fullmatch(host)):
        problems.append(f"{stack_where}.host: {host!r}; accepted: a DNS host name such as orders.example.com, or empty")
        host = ""

    dd = pf.get("delivery") or {}
    delivery = sp.Delivery(
        strategy=dd.get("strategy", "canary"),
        weights=tuple(dd.get("weights", sp.Delivery.weights)),
        pause=dd.get("pause", sp.Delivery.pause),
        analysis_interval=dd.get("analysisInterval", sp.Delivery.analysis_interval),
        failure_limit=dd.get("failureLimit", sp.Delivery.failure_limit),
    )
    canary = overrides.get("canary")
    if canary is not None:
        if not isinstance(canary, Mapping) or set(canary) - {"weights", "pause"}:
            problems.append(
                f"{stack_where}.canary: {canary!r}; accepted: a map with weights (list) and/or pause (e.g. 30s)"
            )
        else:
            weights = canary.get("weights", list(delivery.weights))
            pause = canary.get("pause", delivery.pause)
            ok_weights = (
                isinstance(weights, list)
                and weights
                and all(isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= 99 for w in weights)
                and all(b > a for a, b in itertools.pairwise(weights))
            )
            if not ok_weights:
                problems.append(
                    f"{stack_where}.canary.weights: {weights!r}; accepted: integer weights strictly increasing "
                    "within 1..99"
                )
            elif not isinstance(pause, str) or not re.fullmatch(r"[0-9]+(s|m|h)", pause):
                problems.append(f"{stack_where}.canary.pause: {pause!r}; accepted: a duration such as 30s or 1m")
            else:
                delivery = sp.Delivery(
                    delivery.strategy, tuple(weights), pause, delivery.analysis_interval, delivery.failure_limit
                )

    slos = []
    seen_slo: set[str] = set()
    for i, s in enumerate(pf.get("slos") or []):
        where = f"{platform_rel}: slos[{i}]"
        objective = s["objective"]
        if isinstance(objective, bool) or not 0 < float(objective) < 100:
            problems.append(
                f"{where}.objective: {objective!r}; accepted: a percentage above 0 and below 100, e.g. 99.9"
            )
            continue
        if s["name"] in seen_slo:
            problems.append(f"{where}.name: {s['name']!r} is used twice")
        seen_slo.add(s["name"])
        threshold = float(s.get("thresholdSeconds", 0))
        if s["kind"] == "latency" and threshold <= 0:
            problems.append(
                f"{where}.thresholdSeconds: missing; accepted: the latency objective in seconds (a bucket boundary)"
            )
        if s["kind"] == "availability" and "thresholdSeconds" in s:
            problems.append(f"{where}.thresholdSeconds: only latency SLOs have a threshold")
        slos.append(sp.Slo(s["name"], s["kind"], float(objective), s.get("window", "28d"), threshold))
    if not any(s.kind == "availability" for s in slos):
        slos.insert(0, sp.Slo("availability", "availability", 99.9, "28d"))

    td = pf.get("thresholds") or {}
    thresholds = sp.Thresholds(
        error_ratio=float(td.get("errorRatio", sp.Thresholds.error_ratio)),
        latency_p95_seconds=float(td.get("latencyP95Seconds", sp.Thresholds.latency_p95_seconds)),
        canary_min_requests=int(td.get("canaryMinRequests", sp.Thresholds.canary_min_requests)),
    )
    sli_doc = pf.get("sli") or {}
    sli = sp.SliContract(
        duration_histogram=sli_doc.get("durationHistogram", sp.SliContract.duration_histogram),
        requests_counter=sli_doc.get("requestsCounter", ""),
        status_label=sli_doc.get("statusLabel", sp.SliContract.status_label),
        error_status_regex=sli_doc.get("errorStatusRegex", sp.SliContract.error_status_regex),
        route_label=sli_doc.get("routeLabel", sp.SliContract.route_label),
    )
    sd = pf.get("secrets") or {}
    secrets_delivery = sp.SecretsDelivery(
        sd.get("delivery", "agent"), sd.get("agentFormat", "files"), sd.get("renderInterval", "5m")
    )
    repository = sp.Repository(
        owner=repo_doc["owner"],
        name=repo_doc["name"],
        dockerfile=repo_doc.get("dockerfile", "Dockerfile"),
        context=repo_doc.get("context", "."),
        language=repo_doc.get("language", "other"),
        language_version=repo_doc.get("languageVersion", ""),
        test_command=repo_doc.get("testCommand", ""),
    )
    namespace = pf.get("namespace", pf["team"])
    if namespace in RESERVED_NAMESPACES or namespace.startswith("kube-"):
        problems.append(
            f"{platform_rel}: namespace: {namespace!r} is a platform or reserved namespace; accepted: a namespace "
            "of the service's team (not default, kube-*, or the platform's own)"
        )
    if len(problems) > before:
        return None
    return sp.ServiceSpec(
        name=name,
        team=pf["team"],
        cost_center=pf["costCenter"],
        namespace=namespace,
        container=sp.Container(
            name=name,
            image=full_image,
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
        repository=repository,
        replicas=replicas,
        max_replicas=max_replicas,
        host=host,
        run_as_user=int(pf.get("runAsUser", 10001)),
        source=folder,
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
