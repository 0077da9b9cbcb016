"""A service as data: what the platform turns into production operations for one onboarded service.

``ServiceSpec`` is built by ``components.service.load`` from ``services/<name>/score.yaml`` (a Score
``score.dev/v1b1`` workload: containers, image, variables, files, probes, resources, service ports),
``services/<name>/platform.yaml`` (what Score does not cover: owning team, cost center, namespace,
metrics endpoint and SLI contract, SLOs, delivery, secrets, source repository, test command) and the
stack's per-service overrides (``hardening:services``: image tag, replicas, HPA maximum, resources,
hostname, canary steps). Every builder that produces something for one service takes a ``ServiceSpec``
(or a narrower part of it), never the whole stack ``Settings``.

One definition, many uses: ``slos`` and ``sli`` feed the recording rules, the burn-rate alerts, the SLO
dashboards and the canary analysis thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from components.config import Resources

# The platform-provided Score resource type for secrets: ${resources.<name>.<key>} resolves to the value of
# <key> at <kv mount>/apps/<service>/<name> in Vault, rendered by the Vault Agent sidecar.
VAULT_SECRET_TYPE = "vault-secret"  # noqa: S105 - a resource type name
SECRET_DELIVERIES = ("agent", "native")  # agent: Vault Agent sidecar (any language); native: the app's own client
AGENT_FORMATS = ("files", "env")
STRATEGIES = ("canary", "blueGreen")
LANGUAGES = ("python", "go", "node", "java", "other")
SLO_KINDS = ("availability", "latency")
SLO_WINDOWS = ("28d", "30d")
# Where a Score workload states no resources: small, and bounded (the LimitRange default would apply too).
DEFAULT_RESOURCES = Resources("100m", "128Mi", "500m", "256Mi")


@dataclass(frozen=True)
class SliContract:
    """Metric and label names the service exports; defaults are the OpenTelemetry HTTP semantic conventions
    as exported to Prometheus. ``requests`` counts every request (default: the histogram's ``_count``)."""

    duration_histogram: str = "http_server_request_duration_seconds"
    requests_counter: str = ""  # empty: <duration_histogram>_count
    status_label: str = "http_response_status_code"
    error_status_regex: str = "5.."
    route_label: str = "http_route"

    @property
    def requests(self) -> str:
        return self.requests_counter or f"{self.duration_histogram}_count"

    @property
    def buckets(self) -> str:
        return f"{self.duration_histogram}_bucket"


@dataclass(frozen=True)
class Slo:
    """One service level objective. ``availability``: the share of requests that do not fail (status not
    matching ``error_status_regex``); ``latency``: the share of requests faster than ``threshold_seconds``
    (a bucket boundary of the duration histogram)."""

    name: str
    kind: str  # availability | latency
    objective_percent: float  # in (0, 100), e.g. 99.9
    window: str = "28d"
    threshold_seconds: float = 0.0  # latency only

    @property
    def error_budget(self) -> float:
        """The allowed bad-event ratio, e.g. 0.001 for 99.9 %."""
        return 1 - self.objective_percent / 100


@dataclass(frozen=True)
class Thresholds:
    """The fast threshold alerts and the canary analysis both hold the service to these (the roadmap's
    "errors above 5 %, P95 above 500 ms"); ``canary_min_requests`` is the least traffic a canary measurement
    needs before it counts (below it the measurement is inconclusive, never a pass)."""

    error_ratio: float = 0.05
    latency_p95_seconds: float = 0.5
    canary_min_requests: int = 10


@dataclass(frozen=True)
class ServicePort:
    name: str
    port: int  # Service port
    target_port: int  # container port
    protocol: str = "TCP"


@dataclass(frozen=True)
class HttpProbe:
    path: str
    port: int  # container port


@dataclass(frozen=True)
class SecretResource:
    """A Score resource of type ``vault-secret``: the keys the service's placeholders read."""

    name: str  # the Score resource name; the Vault KV path is apps/<service>/<name>
    keys: tuple[str, ...]


@dataclass(frozen=True)
class ContainerFile:
    path: str  # absolute target path in the container
    content: str  # may hold ${resources.<secret>.<key>} placeholders
    mode: str = "0400"


@dataclass(frozen=True)
class Container:
    name: str
    image: str  # full reference with an explicit tag (the stack's override, else the Score image)
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    variables: Mapping[str, str] = field(default_factory=dict)  # may hold secret placeholders
    files: tuple[ContainerFile, ...] = ()
    liveness: HttpProbe | None = None
    readiness: HttpProbe | None = None
    resources: Resources = DEFAULT_RESOURCES


@dataclass(frozen=True)
class Metrics:
    port: int  # container port of the metrics endpoint
    path: str = "/metrics"


@dataclass(frozen=True)
class Delivery:
    strategy: str = "canary"
    weights: tuple[int, ...] = (20, 50, 80)
    pause: str = "1m"
    analysis_interval: str = "30s"
    failure_limit: int = 1


@dataclass(frozen=True)
class SecretsDelivery:
    mode: str = "agent"  # agent | native
    agent_format: str = "files"  # files: one file per key (+ <VAR>_FILE variables); env: also an env file
    render_interval: str = "5m"  # how often the agent re-reads static KV secrets (rotation reaches the pod)


@dataclass(frozen=True)
class Repository:
    owner: str
    name: str
    dockerfile: str = "Dockerfile"
    context: str = "."
    language: str = "other"  # python | go | node | java | other: the toolchain the test job sets up
    language_version: str = ""  # e.g. "3.12" or "1.24"; empty = the platform's pinned default
    test_command: str = ""  # run in the repository root by the CI test job; empty: no test step

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # DNS-1123 label: Rollout, Services, ServiceAccount, Vault role
    team: str
    cost_center: str
    namespace: str
    container: Container
    ports: tuple[ServicePort, ...]
    metrics: Metrics
    sli: SliContract
    slos: tuple[Slo, ...]
    thresholds: Thresholds
    delivery: Delivery
    secrets: tuple[SecretResource, ...]
    secrets_delivery: SecretsDelivery
    repository: Repository
    replicas: int = 1
    max_replicas: int = 0  # 0: no HPA
    host: str = ""  # public host name (NGINX Ingress; canary traffic split at the ingress)
    run_as_user: int = 10001
    source: str = ""  # services/<name> (error messages name its files)

    @property
    def image(self) -> str:
        return self.container.image

    @property
    def http_port(self) -> ServicePort:
        """The port the Ingress, probes from outside and the canary traffic use: the first Service port."""
        return self.ports[0]

    def slo(self, kind: str) -> Slo | None:
        return next((s for s in self.slos if s.kind == kind), None)
