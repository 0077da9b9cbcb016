"""Typed stack settings: one dataclass tree, loaded from Pulumi config and validated up front.

Every key of the ``hardening`` config namespace is declared once in ``KEYS`` below with its Pulumi type,
default, description and a check. ``Pulumi.yaml``'s ``config:`` section is generated from the same table
(``python -m tools.config_schema``; a test keeps it in sync), so the documentation, the CLI's own type
checks and this module cannot disagree.

``load_settings`` turns the raw values into ``Settings`` or raises ``ConfigError`` carrying one message
per problem (key, bad value, what is accepted). It runs before any resource is registered, so a bad
stack never half-applies. ``ConfigError`` derives from ``pulumi.RunError`` so ``pulumi preview`` prints
the messages without a Python traceback.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from components import durations

try:  # pulumi is always installed for the program; keep the module importable without it for tools.
    from pulumi import RunError as _BaseError
except ImportError:  # pragma: no cover
    _BaseError = Exception  # type: ignore[assignment,misc]

NAMESPACE = "hardening"
ENVIRONMENTS = ("dev", "staging", "prod")


class ConfigError(_BaseError):  # type: ignore[misc,valid-type]
    """Invalid stack configuration; ``problems`` holds one human-readable message per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid stack configuration ({len(problems)} problem(s)):\n{lines}")


# --------------------------------------------------------------------------------------------------
# Value checks: each returns the parsed value or raises ValueError("<what is accepted>").
# --------------------------------------------------------------------------------------------------
_CPU = re.compile(r"^(\d+m|\d+(\.\d+)?)$")
_MEMORY = re.compile(r"^\d+(Ki|Mi|Gi|Ti)$")
_STORAGE = re.compile(r"^\d+(Mi|Gi|Ti)$")
_SIZE = re.compile(r"^\d+(B|KB|MB|GB|TB|PB)$")
# The one DNS-1123 label and host-name patterns (full matches).
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
HOST_NAME = re.compile(r"([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
# An image reference (distribution's reference grammar, ASCII only): registry[:port]/path[:tag][@sha256:digest].
IMAGE_REFERENCE = re.compile(
    r"(?P<repo>[a-z0-9]+([._-][a-z0-9]+)*(\.[a-z0-9]+([._-][a-z0-9]+)*)*(:[0-9]+)?(/[a-z0-9]+([._/-][a-z0-9]+)*)+)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(@(?P<digest>sha256:[a-f0-9]{64}))?"
)
_GH_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def duration_seconds(value: str) -> float:
    """Seconds in a single-unit duration such as ``15d`` or ``30s`` (Prometheus/Go style)."""
    return durations.seconds(value, single=True)


def cpu_millicores(value: str) -> int:
    return int(value[:-1]) if value.endswith("m") else round(float(value) * 1000)


def size_bytes(value: str) -> int:
    """Bytes of a Prometheus size such as ``40GB`` (Prometheus' units are powers of 1024)."""
    units = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4, "PB": 1024**5}
    number = value.rstrip("KMGTPB")
    return int(number) * units[value[len(number) :]]


def memory_bytes(value: str) -> int:
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}
    return int(value[:-2]) * units[value[-2:]]


# Config namespaces a stack file may use: this project's, and those of the providers the program uses.
KNOWN_CONFIG_NAMESPACES = (NAMESPACE, "kubernetes", "github", "random", "pulumi")


def unknown_namespaces(keys: Any) -> list[str]:
    """A problem for each config key in a namespace nothing reads (``harden:appReplicas`` is silently ignored
    by Pulumi, so it is reported here)."""
    problems = []
    for key in sorted(keys):
        ns = key.split(":", 1)[0] if ":" in key else ""
        if ns and ns not in KNOWN_CONFIG_NAMESPACES:
            problems.append(
                f"{key}: unknown config namespace {ns!r}; accepted: {NAMESPACE}:<key> (this project) or a provider's "
                "namespace (kubernetes, github, random)"
            )
    return problems


def _string(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("a string")
    return v


def _nonempty(v: Any) -> str:
    s = _string(v)
    if not s.strip():
        raise ValueError("a non-empty string")
    return s


def _integer(minimum: int, maximum: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool):
            raise ValueError(f"an integer from {minimum} to {maximum}")
        try:
            n = int(str(v), 10)
        except ValueError:
            raise ValueError(f"an integer from {minimum} to {maximum}") from None
        if not minimum <= n <= maximum:
            raise ValueError(f"an integer from {minimum} to {maximum}")
        return n

    return check


def _boolean(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v in ("true", "false"):
        return v == "true"
    raise ValueError("true or false")


def _decimal(minimum: float, maximum: float) -> Callable[[Any], float]:
    def check(v: Any) -> float:
        try:
            x = float(str(v))
        except ValueError:
            raise ValueError(f"a decimal number from {minimum} to {maximum}, as a string") from None
        if not minimum <= x <= maximum or x != x:
            raise ValueError(f"a decimal number from {minimum} to {maximum}, as a string")
        return x

    return check


def _choice(*choices: str) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if v not in choices:
            raise ValueError("one of " + ", ".join(choices))
        return str(v)

    return check


def _duration(minimum: str = "1s", maximum: str = "10y") -> Callable[[Any], str]:
    accepted = f"a duration with one unit (ms, s, m, h, d, w, y) from {minimum} to {maximum}, e.g. 15d, 12h, 30s"

    def check(v: Any) -> str:
        try:
            given = duration_seconds(v)
        except ValueError:
            raise ValueError(accepted) from None
        if not duration_seconds(minimum) <= given <= duration_seconds(maximum):
            raise ValueError(accepted)
        return str(v)

    return check


def _regex(pattern: re.Pattern[str], accepted: str, allow_empty: bool = False) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if allow_empty and v == "":
            return ""
        if not isinstance(v, str) or not pattern.fullmatch(v):
            raise ValueError(accepted)
        return v

    return check


@dataclass(frozen=True)
class Resources:
    """Container requests and limits."""

    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str

    def as_k8s(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


_RESOURCES_ACCEPTED = (
    "'cpu=<request>/<limit> memory=<request>/<limit>', e.g. 'cpu=100m/500m memory=128Mi/256Mi' (limit >= request)"
)


def parse_resources(v: Any) -> Resources:
    if not isinstance(v, str):
        raise ValueError(_RESOURCES_ACCEPTED)
    parts = dict(p.split("=", 1) for p in v.split() if "=" in p)
    if set(parts) != {"cpu", "memory"} or len(v.split()) != 2:
        raise ValueError(_RESOURCES_ACCEPTED)
    try:
        cpu_req, cpu_lim = parts["cpu"].split("/")
        mem_req, mem_lim = parts["memory"].split("/")
    except ValueError:
        raise ValueError(_RESOURCES_ACCEPTED) from None
    if not all(_CPU.fullmatch(c) for c in (cpu_req, cpu_lim)) or not all(
        _MEMORY.fullmatch(m) for m in (mem_req, mem_lim)
    ):
        raise ValueError(_RESOURCES_ACCEPTED)
    if cpu_millicores(cpu_lim) < cpu_millicores(cpu_req) or memory_bytes(mem_lim) < memory_bytes(mem_req):
        raise ValueError(_RESOURCES_ACCEPTED)
    if cpu_millicores(cpu_req) == 0 or memory_bytes(mem_req) == 0:
        raise ValueError(_RESOURCES_ACCEPTED + "; requests must be above zero")
    return Resources(cpu_req, mem_req, cpu_lim, mem_lim)


def _array_of(item: Callable[[Any], Any], accepted: str) -> Callable[[Any], list[Any]]:
    def check(v: Any) -> list[Any]:
        if isinstance(v, str):
            try:
                v = json.loads(v)
            except json.JSONDecodeError:
                raise ValueError(accepted) from None
        if not isinstance(v, list):
            raise ValueError(accepted)
        try:
            return [item(x) for x in v]
        except ValueError:
            raise ValueError(accepted) from None

    return check


def _weights(v: Any) -> list[int]:
    accepted = "a list of integer weights strictly increasing within 1..99, e.g. [20, 50, 80]"
    weights = _array_of(_integer(1, 99), accepted)(v)
    if not weights or any(b <= a for a, b in itertools.pairwise(weights)):
        raise ValueError(accepted)
    return weights


# --------------------------------------------------------------------------------------------------
# The settings tree: each setting is declared ONCE, as field metadata of the dataclass that holds it
# (key, Pulumi type, default, description, check). ``KEYS`` (what Pulumi.yaml documents) and the tree
# itself are built from these declarations; nothing lists a setting a second time.
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    name: str
    type: str  # Pulumi config type: string | integer | boolean | array | object
    default: Any
    description: str
    check: Callable[[Any], Any]
    items: str | None = None  # item type for arrays


@dataclass(frozen=True)
class SecretKey:
    name: str
    description: str


def setting(
    key: str, type_: str, default: Any, description: str, check: Callable[[Any], Any], items: str | None = None
) -> Any:
    """A dataclass field bound to the stack key ``hardening:<key>``."""
    return field(metadata={"key": Key(key, type_, default, description, check, items)})


_R = "requests/limits as " + _RESOURCES_ACCEPTED.split(",")[0].strip("'") + "."
_LABEL = _regex(DNS_LABEL, "a DNS-1123 label")


def _services(v: Any) -> dict[str, dict[str, Any]]:
    accepted = (
        "a map of service name -> per-stack overrides (tag, replicas, maxReplicas, resources, host, canary), "
        "each name a folder under services/"
    )
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except json.JSONDecodeError:
            raise ValueError(accepted) from None
    if not isinstance(v, Mapping) or not v:
        raise ValueError(accepted)
    out: dict[str, dict[str, Any]] = {}
    for name, overrides in v.items():
        if not isinstance(name, str) or not DNS_LABEL.fullmatch(name):
            raise ValueError(accepted + f"; {name!r} is not a DNS-1123 label")
        if overrides is not None and not isinstance(overrides, Mapping):
            raise ValueError(accepted + f"; the overrides of {name!r} are not a map")
        out[name] = dict(overrides or {})
    return out


@dataclass(frozen=True)
class ClusterSettings:
    kube_context: str = setting(
        "kubeContext",
        "string",
        "",
        "kubeconfig context the explicit Kubernetes provider uses; empty = the current context.",
        _string,
    )
    render_yaml_to_directory: str = setting(
        "renderYamlToDirectory",
        "string",
        "",
        "When set, the Kubernetes provider writes manifests to this directory instead of applying them (for users "
        "with the Pulumi CLI but no cluster).",
        _string,
    )
    storage_class: str = setting(
        "storageClass",
        "string",
        "",
        "StorageClass for every PersistentVolumeClaim; empty = the cluster default.",
        _regex(DNS_LABEL, "a DNS-1123 label or empty", allow_empty=True),
    )


@dataclass(frozen=True)
class NamespaceSettings:
    team: str = setting(
        "team", "string", "platform", "Team that owns the platform namespaces (label 'team', cost allocation).", _LABEL
    )
    cost_center: str = setting(
        "costCenter", "string", "cc-platform", "Cost center of the platform namespaces (label 'cost-center').", _LABEL
    )
    quota: Resources = setting(
        "namespaceQuota",
        "string",
        "cpu=4/8 memory=8Gi/16Gi",
        "ResourceQuota of every platform namespace: total requests/limits as "
        "'cpu=<requests>/<limits> memory=<requests>/<limits>'. Service namespaces get a quota sized from their "
        "services (HPA maximum plus a full canary ReplicaSet).",
        parse_resources,
    )
    max_pods: int = setting(
        "namespaceMaxPods", "integer", 30, "ResourceQuota pod count per platform namespace.", _integer(1, 10000)
    )
    container_defaults: Resources = setting(
        "containerDefaults",
        "string",
        "cpu=50m/200m memory=64Mi/256Mi",
        "LimitRange default requests/limits for containers that declare none.",
        parse_resources,
    )


@dataclass(frozen=True)
class MonitoringSettings:
    runbook_base_url: str = setting(
        "runbookBaseUrl",
        "string",
        "https://github.com/example-org/hardening/blob/main/docs",
        "Base URL of docs/ used in every alert's runbook_url.",
        _regex(
            re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]*[A-Za-z0-9._~%-])?"),
            "an https URL without trailing slash, query, quotes, spaces or template braces, e.g. "
            "https://github.com/example-org/hardening/blob/main/docs",
        ),
    )
    prometheus_retention: str = setting(
        "prometheusRetention", "string", "2d", "Prometheus TSDB retention time.", _duration("1h", "5y")
    )
    prometheus_retention_size: str = setting(
        "prometheusRetentionSize",
        "string",
        "8GB",
        "Prometheus TSDB retention size cap (below the volume size).",
        _regex(_SIZE, "a size such as 40GB or 512MB"),
    )
    prometheus_storage: str = setting(
        "prometheusStorage", "string", "10Gi", "Prometheus volume size.", _regex(_STORAGE, "a size such as 50Gi")
    )
    prometheus_replicas: int = setting(
        "prometheusReplicas", "integer", 1, "Prometheus replicas (each scrapes everything).", _integer(1, 5)
    )
    prometheus_resources: Resources = setting(
        "prometheusResources", "string", "cpu=200m/1 memory=512Mi/1Gi", "Prometheus " + _R, parse_resources
    )
    scrape_interval: str = setting(
        "scrapeInterval", "string", "30s", "Prometheus scrape interval.", _duration("5s", "5m")
    )
    evaluation_interval: str = setting(
        "evaluationInterval", "string", "30s", "Prometheus rule evaluation interval.", _duration("5s", "5m")
    )
    alertmanager_replicas: int = setting(
        "alertmanagerReplicas", "integer", 1, "Alertmanager replicas (clustered when more than one).", _integer(1, 5)
    )
    grafana_replicas: int = setting("grafanaReplicas", "integer", 1, "Grafana replicas.", _integer(1, 5))


@dataclass(frozen=True)
class LoggingSettings:
    retention: str = setting(
        "lokiRetention",
        "string",
        "7d",
        "Loki retention period (the compactor deletes older chunks).",
        _duration("24h", "5y"),
    )
    storage: str = setting(
        "lokiStorage", "string", "10Gi", "Loki volume size.", _regex(_STORAGE, "a size such as 50Gi")
    )
    resources: Resources = setting(
        "lokiResources", "string", "cpu=100m/1 memory=256Mi/1Gi", "Loki " + _R, parse_resources
    )
    ingestion_rate_mb: int = setting(
        "lokiIngestionRateMb", "integer", 4, "Loki per-tenant ingestion rate limit in MB/s.", _integer(1, 1000)
    )
    ingestion_burst_mb: int = setting(
        "lokiIngestionBurstMb", "integer", 8, "Loki per-tenant ingestion burst in MB.", _integer(1, 2000)
    )


@dataclass(frozen=True)
class VaultSettings:
    replicas: int = setting(
        "vaultReplicas", "integer", 1, "Vault server replicas (Raft peers; prod: 3).", _integer(1, 7)
    )
    storage: str = setting(
        "vaultStorage", "string", "5Gi", "Vault Raft volume size.", _regex(_STORAGE, "a size such as 10Gi")
    )
    tls_secret: str = setting(
        "vaultTlsSecret",
        "string",
        "",
        "Name of a kubernetes.io/tls Secret in the vault namespace (tls.crt, tls.key, ca.crt) for Vault's listener; "
        "empty = plain HTTP (dev only).",
        _regex(DNS_LABEL, "a DNS-1123 label or empty", allow_empty=True),
    )
    rotation_period: str = setting(
        "vaultRotationPeriod",
        "string",
        "90d",
        "How often every secret must be rotated (KV custom metadata; the rotation report flags older ones).",
        _duration("1d", "1y"),
    )


@dataclass(frozen=True)
class CostSettings:
    cpu_hourly: float = setting(
        "costCpuHourly",
        "string",
        "0.031611",
        "Price of one vCPU-hour (USD), given to OpenCost and the estimate.",
        _decimal(0, 100),
    )
    memory_gib_hourly: float = setting(
        "costMemoryGibHourly", "string", "0.004237", "Price of one GiB-hour of memory (USD).", _decimal(0, 100)
    )
    storage_gb_monthly: float = setting(
        "costStorageGbMonthly", "string", "0.04", "Price of one GB-month of persistent storage (USD).", _decimal(0, 100)
    )
    load_balancer_hourly: float = setting(
        "costLoadBalancerHourly", "string", "0.025", "Price of one load balancer hour (USD).", _decimal(0, 100)
    )
    node_count: int = setting(
        "costNodeCount", "integer", 1, "Nodes a DaemonSet runs on, for the estimate.", _integer(1, 10000)
    )
    monthly_budget: float = setting(
        "costMonthlyBudget",
        "string",
        "150",
        "Monthly budget (USD) the policy pack holds the estimate to.",
        _decimal(0, 10_000_000),
    )
    increase_threshold_percent: int = setting(
        "costIncreaseThresholdPercent",
        "integer",
        20,
        "A pull request that raises the estimate by more than this percent is flagged.",
        _integer(0, 1000),
    )


@dataclass(frozen=True)
class CiSettings:
    manage_github: bool = setting(
        "githubManage",
        "boolean",
        False,
        "Manage each service repository's workflows, environments, secrets and ruleset with pulumi-github (needs "
        "github:token).",
        _boolean,
    )
    deploy_railway: bool = setting(
        "deployRailway", "boolean", False, "Deploy the services to Railway from the deploy workflows.", _boolean
    )
    deploy_render: bool = setting(
        "deployRender", "boolean", False, "Deploy the services to Render from the deploy workflows.", _boolean
    )
    deploy_fly: bool = setting(
        "deployFly", "boolean", False, "Deploy the services to Fly.io from the deploy workflows.", _boolean
    )
    vault_secrets: bool = setting(
        "ciVaultSecrets",
        "boolean",
        False,
        "Workflows read their deploy secrets from Vault through GitHub OIDC instead of GitHub environment secrets.",
        _boolean,
    )
    vault_address: str = setting(
        "ciVaultAddress",
        "string",
        "",
        "Vault address the workflows log in to through GitHub OIDC when ciVaultSecrets is on (reachable from "
        "GitHub's runners).",
        _regex(
            re.compile(r"https://[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(:[0-9]{1,5})?"),
            "an https URL of a host name, without path, query, quotes, spaces or expressions, e.g. "
            "https://vault.example.com, or empty",
            allow_empty=True,
        ),
    )
    github_plan: str = setting(
        "githubPlan",
        "string",
        "free",
        "The GitHub plan of the service repositories' owner: free, team or enterprise. Required reviewers and "
        "rulesets on private repositories need a paid plan; the program creates only what the plan accepts.",
        _choice("free", "team", "enterprise"),
    )
    repository_visibility: str = setting(
        "githubRepositoryVisibility",
        "string",
        "public",
        "Visibility of the service repositories: public, private or internal (with githubPlan, what GitHub accepts).",
        _choice("public", "private", "internal"),
    )
    github_app_id: int = setting(
        "githubAppId",
        "integer",
        0,
        "Id of the GitHub App that runs `pulumi up` (a ruleset bypass actor); 0 = none.",
        _integer(0, 2**53),
    )
    platform_repository: str = setting(
        "ciPlatformRepository",
        "string",
        "",
        "owner/name of the repository whose platform.yml runs `pulumi up` (the one owner of every stack); "
        "empty = <service owner>/hardening.",
        _regex(
            re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9_.-]{1,100}"),
            "owner/name or empty",
            allow_empty=True,
        ),
    )
    pulumi_org: str = setting(
        "pulumiOrganization",
        "string",
        "",
        "Pulumi organization of the stacks (they are named <org>/hardening/<stack>); empty = the repository owner.",
        _regex(re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}"), "a Pulumi organization name or empty", allow_empty=True),
    )
    production_reviewers: tuple[int, ...] = setting(
        "productionReviewers",
        "array",
        [],
        "Numeric GitHub user ids (gh api users/<login> --jq .id) whose approval the production environment requires "
        "(at most 6).",
        _array_of(_integer(1, 2**53), "a list of at most 6 numeric GitHub user ids, e.g. [1234567]"),
        items="integer",
    )


@dataclass(frozen=True)
class Settings:
    cluster: ClusterSettings
    namespaces: NamespaceSettings
    monitoring: MonitoringSettings
    logging: LoggingSettings
    vault: VaultSettings
    cost: CostSettings
    ci: CiSettings
    environment: str = setting(
        "environment",
        "string",
        "dev",
        "Environment of this stack: dev, staging or prod. prod turns on HA, longer retention and stricter policies.",
        _choice(*ENVIRONMENTS),
    )
    services: Mapping[str, Mapping[str, Any]] = setting(
        "services",
        "object",
        {"orders-api": {}},
        "The services this stack runs: service name (a folder under services/, docs/SERVICES.md) -> per-stack "
        "overrides: tag (image tag), replicas, maxReplicas (0: no HPA), resources ('cpu=<req>/<lim> "
        "memory=<req>/<lim>'), host (public host name), canary ({weights: [...], pause: 1m}).",
        _services,
    )
    project: str = NAMESPACE
    stack: str = "dev"
    secrets_present: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"


def _declared(cls: type) -> list[tuple[str, Key | type]]:
    """``(field name, Key)`` for settings and ``(field name, section class)`` for nested sections, in order."""
    out: list[tuple[str, Key | type]] = []
    for f in fields(cls):
        if "key" in f.metadata:
            out.append((f.name, f.metadata["key"]))
        elif isinstance(f.type, str) and f.type.endswith("Settings") and f.type in globals():
            out.append((f.name, globals()[f.type]))
    return out


def _all_keys(cls: type) -> list[Key]:
    keys: list[Key] = []
    for _name, decl in _declared(cls):
        keys.extend([decl] if isinstance(decl, Key) else _all_keys(decl))
    return keys


KEYS: tuple[Key, ...] = tuple(_all_keys(Settings))

SECRET_KEYS: tuple[SecretKey, ...] = (
    SecretKey("alertWebhookUrl", "Generic webhook URL Alertmanager posts every alert to."),
    SecretKey("alertSlackWebhookUrl", "Slack incoming-webhook URL for warning and critical alerts."),
    SecretKey("alertPagerdutyRoutingKey", "PagerDuty Events v2 routing key for critical alerts."),
    SecretKey(
        "alertHeartbeatUrl",
        "Dead-man's-switch URL Alertmanager sends the always-firing Watchdog to every minute.",
    ),
    SecretKey("pulumiAccessToken", "Pulumi access token the deploy workflows use for `pulumi up`."),
    SecretKey("ciKubeconfig", "kubeconfig the deploy workflows use to reach the cluster."),
    SecretKey(
        "platformDispatchToken",
        "Fine-grained token a service's deploy workflow dispatches the platform repository's platform.yml with.",
    ),
    SecretKey("railwayToken", "Railway project token (when deployRailway)."),
    SecretKey("railwayServiceId", "Railway service id the image is deployed to (when deployRailway)."),
    SecretKey("renderApiKey", "Render API key (when deployRender)."),
    SecretKey("renderServiceId", "Render service id (when deployRender)."),
    SecretKey("flyApiToken", "Fly.io deploy token (when deployFly)."),
)

KEYS_BY_NAME = {k.name: k for k in KEYS}
SECRET_KEY_NAMES = frozenset(s.name for s in SECRET_KEYS)


def _build(cls: type, values: Mapping[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    for name, decl in _declared(cls):
        if isinstance(decl, Key):
            value = values[decl.name]
            kwargs[name] = tuple(value) if isinstance(value, list) else value
        else:
            kwargs[name] = _build(decl, values)
    return cls(**kwargs)


def _cross_checks(v: Mapping[str, Any], problems: list[str]) -> None:
    """Rules that involve more than one key."""

    def has(*names: str) -> bool:
        return all(n in v for n in names)

    if has("environment", "vaultTlsSecret") and v["environment"] == "prod" and not v["vaultTlsSecret"]:
        problems.append(
            f"{NAMESPACE}:vaultTlsSecret: empty in prod; accepted: the name of a kubernetes.io/tls "
            "Secret (Vault's listener must use TLS in prod)"
        )
    if has("vaultReplicas") and v["vaultReplicas"] % 2 == 0:
        problems.append(
            f"{NAMESPACE}:vaultReplicas: {v['vaultReplicas']} gives Raft no majority advantage; "
            "accepted: an odd number (1, 3, 5, 7)"
        )
    if has("evaluationInterval", "scrapeInterval") and (
        duration_seconds(v["evaluationInterval"]) < duration_seconds(v["scrapeInterval"])
    ):
        problems.append(
            f"{NAMESPACE}:evaluationInterval: {v['evaluationInterval']!r} is shorter than "
            f"scrapeInterval {v['scrapeInterval']!r}; accepted: at least the scrape interval"
        )
    if has("prometheusRetentionSize", "prometheusStorage") and (
        size_bytes(v["prometheusRetentionSize"]) > 0.9 * memory_bytes(v["prometheusStorage"])
    ):
        problems.append(
            f"{NAMESPACE}:prometheusRetentionSize: {v['prometheusRetentionSize']!r} does not fit prometheusStorage "
            f"{v['prometheusStorage']!r}; accepted: at most 90 % of the volume (the WAL and compaction need the rest)"
        )
    if has("lokiIngestionBurstMb", "lokiIngestionRateMb") and v["lokiIngestionBurstMb"] < v["lokiIngestionRateMb"]:
        problems.append(
            f"{NAMESPACE}:lokiIngestionBurstMb: {v['lokiIngestionBurstMb']} is below "
            f"lokiIngestionRateMb {v['lokiIngestionRateMb']}; accepted: at least the rate"
        )
    if has("environment", "alertmanagerReplicas") and v["environment"] == "prod" and v["alertmanagerReplicas"] < 2:
        problems.append(
            f"{NAMESPACE}:alertmanagerReplicas: {v['alertmanagerReplicas']} in prod; accepted: 2 or "
            "more (a clustered Alertmanager)"
        )
    if has("ciVaultSecrets", "ciVaultAddress") and v["ciVaultSecrets"] and not v["ciVaultAddress"]:
        problems.append(
            f"{NAMESPACE}:ciVaultAddress: empty while ciVaultSecrets is true; accepted: the https URL "
            "of the Vault the workflows log in to (or set ciVaultSecrets to false)"
        )
    if has("productionReviewers") and len(v["productionReviewers"]) > 6:
        problems.append(
            f"{NAMESPACE}:productionReviewers: {len(v['productionReviewers'])} reviewers; accepted: at "
            "most 6 (GitHub's limit per environment)"
        )
    if has("environment", "services") and v["environment"] == "prod":
        for name, o in v["services"].items():
            if isinstance(o.get("replicas", 1), int) and o.get("replicas", 1) < 2:
                problems.append(
                    f"{NAMESPACE}:services.{name}.replicas: {o.get('replicas', 1)} is too few for prod; "
                    "accepted: 2 or more"
                )


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def load_settings(
    raw: Mapping[str, Any],
    *,
    project: str = NAMESPACE,
    stack: str = "dev",
    secret_names: frozenset[str] | set[str] = frozenset(),
    all_keys: Any = (),
) -> Settings:
    """Validate ``raw`` (key -> value without namespace; defaults already applied or not) into Settings.

    Keys missing from ``raw`` take their declared default. Secret keys are only named in
    ``secret_names`` (their values never enter this module). Raises ConfigError with every problem.
    """
    problems: list[str] = unknown_namespaces(all_keys)
    values: dict[str, Any] = {}
    for name in sorted(set(raw) - set(KEYS_BY_NAME)):
        if name in SECRET_KEY_NAMES:
            if name not in secret_names:
                problems.append(
                    f"{NAMESPACE}:{name}: must be set as a secret "
                    f"(pulumi config set --secret {name} ...); it was set in plain text"
                )
            continue
        problems.append(
            f"{NAMESPACE}:{name}: unknown key; accepted keys: see Pulumi.yaml (e.g. "
            + ", ".join(sorted(_closest(name)))
            + ")"
        )
    for key in KEYS:
        value = raw.get(key.name, key.default)
        try:
            values[key.name] = key.check(value)
        except ValueError as exc:
            problems.append(f"{NAMESPACE}:{key.name}: {_show(value)} is invalid; accepted: {exc}")
    _cross_checks(values, problems)
    if problems:
        raise ConfigError(problems)
    built: Settings = _build(Settings, values)
    return replace(
        built,
        project=project,
        stack=stack,
        secrets_present=frozenset(n for n in raw if n in SECRET_KEY_NAMES and n in secret_names),
    )


def _closest(name: str) -> list[str]:
    import difflib

    return difflib.get_close_matches(name, list(KEYS_BY_NAME), n=3, cutoff=0.5) or [KEYS[0].name, KEYS[1].name]


def _decode(value: Any) -> Any:
    """Pulumi passes arrays/objects as JSON text and scalars as text; decode what is JSON-shaped."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def all_config_keys() -> list[str]:
    """Every config key the Pulumi runtime holds, of every namespace."""
    from pulumi.runtime import config as rc

    return sorted({**rc.get_config_env(), **rc.CONFIG.get()})


def raw_config_from_runtime() -> tuple[dict[str, Any], set[str]]:
    """All ``hardening:*`` config values the Pulumi runtime holds, and which of them are secret."""
    from pulumi.runtime import config as rc

    merged: dict[str, Any] = {**rc.get_config_env(), **rc.CONFIG.get()}
    prefix = NAMESPACE + ":"
    raw = {k[len(prefix) :]: _decode(v) for k, v in merged.items() if k.startswith(prefix)}
    # Typed defaults arrive as text ("1", "true"); checks accept both forms. Which keys are secret: the SDK's
    # public is_config_secret, per key.
    secrets = {k[len(prefix) :] for k in merged if k.startswith(prefix) and rc.is_config_secret(k)}
    return raw, secrets


def settings_from_pulumi() -> Settings:
    """Read and validate the stack's settings from the running Pulumi program."""
    import pulumi

    raw, secrets = raw_config_from_runtime()
    return load_settings(
        raw, project=pulumi.get_project(), stack=pulumi.get_stack(), secret_names=secrets, all_keys=all_config_keys()
    )


def secret_value(name: str) -> Any:
    """The Output of a secret key (``pulumi.Config.require_secret``); only for keys in SECRET_KEYS."""
    import pulumi

    if name not in SECRET_KEY_NAMES:
        raise KeyError(f"{name} is not a declared secret key; declared: {', '.join(sorted(SECRET_KEY_NAMES))}")
    return pulumi.Config(NAMESPACE).require_secret(name)
