"""Progressive delivery as plain data: strategy, Rollout, AnalysisTemplate, controller hardening, timing.

Pure functions, no Pulumi: the CanaryDelivery component wires their output into resources and the tests
check it on its own (CRD schemas, promtool-built data in simulated time, a real Prometheus).

- ``DeliveryInput`` (``delivery_input(settings)``) is everything a strategy depends on; ``validate``
  rejects bad strategy configuration with one message per problem, naming the field and its stack key.
- ``analysis_template`` / ``rollout_strategy`` / ``rollout`` return the custom resources in API form
  (camelCase), because ``apiextensions.CustomResource`` passes its spec through untranslated.
- ``harden_controller_deployment`` patches the upstream controller Deployment (requests/limits,
  readiness probe, pinned image); ``component.py`` applies it as a Pulumi transform.
- Timing (``timing(inp)``): the warm-up, the analysis window, the effective step pauses and the
  worst-case abort time ``initialDelay + interval x (failureLimit + 1) + window + controller reaction``.

The analysis fails closed. Every metric reads the canary ReplicaSet's own raw counters
(``rollouts_pod_template_hash`` = the hash Argo passes as ``canary-hash``) over a window the builder
derives from the steps, so a late breakage is not averaged away by the canary's healthy past. Past the
warm-up (``initialDelay``) a measurement without at least ``min_requests`` requests in its window, or
without data at all (the canary is idle, unscraped, or lost its hash label), is Inconclusive; past
``inconclusive_limit`` of them (one, for pods still starting) the Rollout pauses for a human instead of
promoting a canary nobody has measured.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components import conventions as cv
from components import k8s as kb
from components.config import Resources, duration_seconds
from components.monitoring import names as mon
from components.service.spec import Delivery, SliContract, Thresholds

API_VERSION = "argoproj.io/v1alpha1"
CONTROLLER = "argo-rollouts"  # Deployment, ServiceAccount and app.kubernetes.io/name of the controller
CONTROLLER_METRICS_PORT = 8090
CONTROLLER_METRICS_PORT_NAME = "metrics"
CONTROLLER_HEALTHZ_PORT_NAME = "healthz"
CONTROLLER_RESOURCES = Resources("100m", "256Mi", "1", "1Gi")

APP_PORT = 8080
APP_PORT_NAME = "http"
APP_RUN_AS_USER = 10001  # the image's numeric user (app/Dockerfile)
APP_SHUTDOWN_TIMEOUT_SECONDS = 20
APP_TERMINATION_GRACE_SECONDS = 30
VAULT_CA_CONFIG_MAP = "vault-ca"  # key ca.crt: the CA of Vault's listener, in the app namespace (prod)
VAULT_CA_DIR = "/etc/vault-ca"

PROMETHEUS_ADDRESS = f"http://{mon.PROMETHEUS}.{cv.NS_MONITORING}.svc:{mon.PROMETHEUS_PORT}"
INGRESS_CLASS = "nginx"
INGRESS_NGINX_NAMESPACE = "ingress-nginx"

# AnalysisTemplate arguments and metric names.
ARG_NAMESPACE = "namespace"
ARG_APP = "app"
ARG_CANARY_HASH = "canary-hash"
ARG_MEASUREMENTS = "measurements"  # count of every metric: background, pre- and post-promotion runs differ
METRIC_TRAFFIC = "canary-traffic"
METRIC_ERROR_RATIO = "error-ratio"
METRIC_LATENCY_P95 = "latency-p95"
METRIC_SYNTHETIC = "synthetic-traffic"
SYNTHETIC_CONTAINER = "synthetic-traffic"
# Argo's default, written out so the timing below does not depend on a default changing.
CONSECUTIVE_ERROR_LIMIT = 4
PROGRESS_DEADLINE_SECONDS = 300
# Time the controllers need to react once the deciding measurement is taken: the AnalysisRun is
# reconciled right after the measurement and the Rollout on the AnalysisRun's update (informers).
CONTROLLER_REACTION_SECONDS = 10
ABORT_BUDGET_SECONDS = 180  # prod objective: a bad canary is aborted within 3 minutes of its first traffic
MIN_REQUESTS = 10  # Thresholds.canary_min_requests' default: the least traffic a measurement counts on
WARMUP_SCRAPES = 2  # increase() needs two samples of the canary's new series
WINDOW_SCRAPES = 3  # the analysis window spans at least three scrapes, so one missed scrape is not "no data"
MIN_STABLE_HOLD_SECONDS = 30  # Argo's default scaleDownDelaySeconds

STRATEGIES = ("canary", "blueGreen")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")

# Which stack key each input field comes from (error messages name both).
STACK_KEYS = {
    "strategy": "platform.yaml delivery.strategy",
    "weights": "services.<name>.canary.weights / platform.yaml delivery.weights",
    "pause": "services.<name>.canary.pause / platform.yaml delivery.pause",
    "analysis_interval": "platform.yaml delivery.analysisInterval",
    "failure_limit": "platform.yaml delivery.failureLimit",
    "error_ratio_threshold": "platform.yaml thresholds.errorRatio",
    "latency_p95_threshold_seconds": "platform.yaml thresholds.latencyP95Seconds",
    "scrape_interval": "hardening:scrapeInterval",
    "app": "score.yaml metadata.name",
    "namespace": "platform.yaml namespace",
    "ingress_host": "services.<name>.host",
}


class StrategyError(ValueError):
    """Invalid delivery strategy; ``problems`` holds one message per problem (field, value, accepted)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid delivery strategy ({len(self.problems)} problem(s)):\n{lines}")


@dataclass(frozen=True)
class CanarySli:
    """The raw series the analysis reads (a service's SliContract maps onto it): a request counter with
    a status label, and a duration histogram's buckets. Defaults: what the orders API exports."""

    requests: str = cv.METRIC_REQUESTS
    status_label: str = "status"
    error_status_regex: str = "5.."
    buckets: str = f"{cv.METRIC_DURATION}_bucket"


# The synthetic-traffic Job's program (python3 -c): GET TARGET_URL at RPS for DURATION seconds. It only
# makes traffic; the SLI metrics judge it. Exit 1 when no request got an HTTP answer (canary unreachable).
SYNTHETIC_SCRIPT = """\
import os, sys, time, urllib.error, urllib.request
url = os.environ["TARGET_URL"]
rps = float(os.environ["RPS"])
end = time.monotonic() + float(os.environ["DURATION"])
answered = unreachable = 0
next_at = time.monotonic()
while time.monotonic() < end:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            resp.read()
        answered += 1
    except urllib.error.HTTPError:
        answered += 1
    except OSError:
        unreachable += 1
    next_at += 1 / rps
    time.sleep(max(0.0, next_at - time.monotonic()))
print(f"synthetic traffic: {answered} answered, {unreachable} unreachable")
sys.exit(0 if answered else 1)
"""


@dataclass(frozen=True)
class SyntheticTraffic:
    """Requests the analysis sends to the canary (or preview) Service itself, for services with too little
    traffic to reach ``min_requests`` per window and for blue/green previews (no user traffic at all).

    ``image`` must have ``python3`` (the app's own image does); ``path`` a read-only endpoint the SLIs count.
    """

    image: str
    path: str = "/orders?limit=1"
    requests_per_second: float = 2.0
    service_port: int = 80


@dataclass(frozen=True)
class DeliveryInput:
    """What the Rollout strategy and the AnalysisTemplate are built from (durations as '30s', '1m')."""

    app: str
    namespace: str
    strategy: str = "canary"
    weights: tuple[int, ...] = (20, 50, 80)
    pause: str = "1m"
    analysis_interval: str = "30s"
    failure_limit: int = 1
    error_ratio_threshold: float = cv.ERROR_RATIO_OBJECTIVE
    latency_p95_threshold_seconds: float = cv.P95_LATENCY_OBJECTIVE_SECONDS
    stable_service: str = ""  # canary: stable Service; blue/green: active Service (default: the app name)
    canary_service: str = ""  # canary: canary Service (default: <app>-canary)
    preview_service: str = ""  # blue/green: preview Service (required)
    ingress: str = ""  # canary: the stable Ingress NGINX splits traffic on; empty = replica-weighted
    ingress_host: str = ""
    progress_deadline_seconds: int = PROGRESS_DEADLINE_SECONDS
    consecutive_error_limit: int = CONSECUTIVE_ERROR_LIMIT
    prometheus_address: str = PROMETHEUS_ADDRESS
    template_name: str = ""  # AnalysisTemplate name (default: <app>-slo)
    extra_args: Mapping[str, str] = field(default_factory=dict)
    # --- fail-closed analysis and timing (issue #23) -----------------------------------------------
    min_requests: int = MIN_REQUESTS  # Thresholds.canary_min_requests: fewer in a window = inconclusive
    pauses: tuple[str, ...] = ()  # per-step pauses (one per weight); empty: ``pause`` after every weight
    scrape_interval: str = "15s"  # how often Prometheus scrapes the app's pods (warm-up and window)
    # True (safe default): the last pause is lengthened to the time a breakage needs to be aborted, so a
    # canary cannot be promoted before the analysis could fail. False: validate refuses such a plan.
    hold_last_step: bool = True
    # Inconclusive measurements tolerated per metric before the Rollout pauses: the first measurement
    # after the warm-up may come before the canary's pods are ready and serving (one interval of slack).
    inconclusive_limit: int = 1
    sli: CanarySli = field(default_factory=CanarySli)
    synthetic_traffic: SyntheticTraffic | None = None  # None: only real traffic reaches the canary

    @property
    def stable(self) -> str:
        return self.stable_service or self.app

    @property
    def canary(self) -> str:
        return self.canary_service or f"{self.app}-canary"

    @property
    def template(self) -> str:
        return self.template_name or f"{self.app}-slo"

    @property
    def pause_seconds(self) -> float:
        return duration_seconds(self.pause)

    @property
    def interval_seconds(self) -> float:
        return duration_seconds(self.analysis_interval)

    @property
    def scrape_seconds(self) -> float:
        return duration_seconds(self.scrape_interval)


def sli_from_contract(contract: SliContract) -> CanarySli:
    """The series a service's SliContract names, as the analysis reads them."""
    return CanarySli(
        requests=contract.requests,
        status_label=contract.status_label,
        error_status_regex=contract.error_status_regex,
        buckets=contract.buckets,
    )


def service_delivery_input(
    app: str,
    namespace: str,
    delivery: Delivery,
    thresholds: Thresholds,
    sli: SliContract,
    *,
    scrape_interval: str,
    ingress_host: str = "",
) -> DeliveryInput:
    """The delivery input of one service (ServiceSpec's ``Delivery``, ``Thresholds`` and ``SliContract``):
    Services named after the app, NGINX routing when it has an ingress host."""
    blue_green = delivery.strategy == "blueGreen"
    return DeliveryInput(
        app=app,
        namespace=namespace,
        strategy=delivery.strategy,
        weights=tuple(delivery.weights),
        pause=delivery.pause,
        analysis_interval=delivery.analysis_interval,
        failure_limit=delivery.failure_limit,
        error_ratio_threshold=thresholds.error_ratio,
        latency_p95_threshold_seconds=thresholds.latency_p95_seconds,
        min_requests=thresholds.canary_min_requests,
        stable_service=app,
        canary_service=f"{app}-canary",
        preview_service=f"{app}-preview" if blue_green else "",
        ingress=app if ingress_host else "",
        ingress_host=ingress_host,
        scrape_interval=scrape_interval,
        sli=sli_from_contract(sli),
    )


def _where(fld: str) -> str:
    key = STACK_KEYS.get(fld)
    return f"{fld} ({key})" if key else fld


def _duration_or_problem(value: Any, fld: str, problems: list[str]) -> float | None:
    try:
        seconds = duration_seconds(value) if isinstance(value, str) else None
    except ValueError:
        seconds = None
    if seconds is None or seconds < 1:
        problems.append(
            f"{_where(fld)} = {value!r} is invalid; accepted: a duration of at least 1s with one "
            "unit (s, m, h), e.g. 30s or 1m"
        )
        return None
    return seconds


def validate(inp: DeliveryInput) -> None:
    """Raise StrategyError listing every problem of ``inp`` (nothing is built from a bad input)."""
    problems: list[str] = []
    for fld in ("app", "namespace"):
        value = getattr(inp, fld)
        if not isinstance(value, str) or not _DNS_LABEL.match(value):
            problems.append(f"{_where(fld)} = {value!r} is invalid; accepted: a DNS-1123 label")
    if inp.strategy not in STRATEGIES:
        problems.append(f"{_where('strategy')} = {inp.strategy!r} is invalid; accepted: {', '.join(STRATEGIES)}")
    pause = _duration_or_problem(inp.pause, "pause", problems)
    interval = _duration_or_problem(inp.analysis_interval, "analysis_interval", problems)
    scrape = _duration_or_problem(inp.scrape_interval, "scrape_interval", problems)
    if pause is not None and interval is not None and pause < interval:
        problems.append(
            f"{_where('pause')} = {inp.pause!r} is shorter than {_where('analysis_interval')} = "
            f"{inp.analysis_interval!r}; accepted: a pause of at least one analysis interval (each "
            "step must be measured at least once before the next weight)"
        )
    weights_ok = _check_canary(inp, problems)
    pauses_ok = _check_pauses(inp, interval, weights_ok, problems)
    _check_blue_green(inp, problems)
    for fld in ("stable_service", "canary_service", "preview_service", "ingress", "template_name"):
        value = getattr(inp, fld)
        if value and not _DNS_LABEL.match(value):
            problems.append(f"{fld} = {value!r} is invalid; accepted: a DNS-1123 label")
    _check_limits(inp, problems)
    _check_synthetic(inp, problems)
    if not problems and pauses_ok and scrape is not None:
        _check_timing(inp, problems)
    if problems:
        raise StrategyError(problems)


def _check_canary(inp: DeliveryInput, problems: list[str]) -> bool:
    """The canary weights and Services; False when the weights are unusable (the pauses are then not matched)."""
    weights_ok = True
    if inp.strategy == "canary":
        weights = list(inp.weights)
        if (
            not weights
            or any(isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= 99 for w in weights)
            or any(b <= a for a, b in itertools.pairwise(weights))
        ):
            weights_ok = False
            problems.append(
                f"{_where('weights')} = {weights!r} is invalid; accepted: a non-empty list of integer "
                "weights strictly increasing within 1..99, e.g. [20, 50, 80]"
            )
        if inp.canary == inp.stable:
            problems.append(f"canary_service = {inp.canary!r} is the stable Service; accepted: a distinct name")
    return weights_ok


def _check_blue_green(inp: DeliveryInput, problems: list[str]) -> None:
    if inp.strategy != "blueGreen":
        return
    if not inp.preview_service:
        problems.append(
            "preview_service is empty; accepted: the name of the preview Service (a blueGreen "
            "strategy (platform.yaml delivery.strategy) needs a preview Service for the new version "
            "and its pre-promotion analysis)"
        )
    elif inp.preview_service == inp.stable:
        problems.append(f"preview_service = {inp.preview_service!r} is the active Service; accepted: a distinct name")
    if inp.ingress and not inp.ingress_host:
        problems.append("ingress is set without ingress_host; accepted: both or neither")


def _check_limits(inp: DeliveryInput, problems: list[str]) -> None:
    """The analysis limits and thresholds, and the progress deadline."""
    if isinstance(inp.failure_limit, bool) or not isinstance(inp.failure_limit, int) or inp.failure_limit < 0:
        problems.append(f"{_where('failure_limit')} = {inp.failure_limit!r} is invalid; accepted: an integer >= 0")
    limit = inp.inconclusive_limit
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 3:
        problems.append(
            f"inconclusive_limit = {limit!r} is invalid; accepted: an integer in 0..3 (each tolerated "
            "inconclusive measurement delays the pause of a blind canary by one analysis interval)"
        )
    if isinstance(inp.min_requests, bool) or not isinstance(inp.min_requests, int) or inp.min_requests < 1:
        problems.append(
            f"min_requests (Thresholds.canary_min_requests) = {inp.min_requests!r} is invalid; accepted: an "
            "integer >= 1 (a measurement over fewer requests is inconclusive, never a pass)"
        )
    for fld, top in (("error_ratio_threshold", 1.0), ("latency_p95_threshold_seconds", 3600.0)):
        value = getattr(inp, fld)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < top:
            problems.append(f"{_where(fld)} = {value!r} is invalid; accepted: a number above 0 and below {top:g}")
    if not isinstance(inp.progress_deadline_seconds, int) or inp.progress_deadline_seconds < 30:
        problems.append(
            f"progress_deadline_seconds = {inp.progress_deadline_seconds!r} is invalid; accepted: an integer >= 30"
        )


def _check_pauses(inp: DeliveryInput, interval: float | None, weights_ok: bool, problems: list[str]) -> bool:
    if not inp.pauses:
        return True
    if inp.strategy == "canary" and weights_ok and len(inp.pauses) != len(inp.weights):
        problems.append(
            f"pauses = {list(inp.pauses)!r} has {len(inp.pauses)} entries for {len(inp.weights)} weight(s); "
            "accepted: one pause per weight, or none (canaryPause after every weight)"
        )
        return False
    if inp.strategy == "blueGreen" and len(inp.pauses) != 1:
        problems.append(f"pauses = {list(inp.pauses)!r} is invalid for blueGreen; accepted: one pause or none")
        return False
    ok = True
    for i, p in enumerate(inp.pauses):
        seconds = _duration_or_problem(p, f"pauses[{i}]", problems)
        if seconds is None:
            ok = False
        elif interval is not None and seconds < interval:
            ok = False
            problems.append(
                f"pauses[{i}] = {p!r} is shorter than {_where('analysis_interval')} = {inp.analysis_interval!r}; "
                "accepted: a pause of at least one analysis interval"
            )
    return ok


_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$")


def _check_synthetic(inp: DeliveryInput, problems: list[str]) -> None:
    syn = inp.synthetic_traffic
    if syn is None:
        return
    if not isinstance(syn.image, str) or not re.match(
        r"^[a-z0-9][\w.:/@-]*:[\w.-]+(@sha256:[0-9a-f]{64})?$", syn.image
    ):
        problems.append(
            f"synthetic_traffic.image = {syn.image!r} is invalid; accepted: an image with an explicit tag "
            "(and python3), e.g. the app's own image"
        )
    if not isinstance(syn.path, str) or not _PATH.match(syn.path):
        problems.append(
            f"synthetic_traffic.path = {syn.path!r} is invalid; accepted: an absolute URL path such as "
            "/orders?limit=1 (no spaces, quotes or fragments)"
        )
    rps = syn.requests_per_second
    if isinstance(rps, bool) or not isinstance(rps, int | float) or not 0 < rps <= 100:
        problems.append(
            f"synthetic_traffic.requests_per_second = {rps!r} is invalid; accepted: a number above 0 and at most 100"
        )
    if isinstance(inp.app, str) and len(synthetic_name(inp)) > 63:
        problems.append(
            f"{_where('app')} = {inp.app!r} is too long for synthetic traffic; accepted: at most "
            f"{63 - len(SYNTHETIC_CONTAINER) - 1} characters (the Job's pods are named <app>-{SYNTHETIC_CONTAINER})"
        )
    port = syn.service_port
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        problems.append(f"synthetic_traffic.service_port = {port!r} is invalid; accepted: an integer in 1..65535")


def _check_timing(inp: DeliveryInput, problems: list[str]) -> None:
    t = timing(inp)
    syn = inp.synthetic_traffic
    if syn is not None and syn.requests_per_second * t.window < inp.min_requests:
        problems.append(
            f"synthetic_traffic.requests_per_second = {syn.requests_per_second!r} sends "
            f"{syn.requests_per_second * t.window:g} requests per {_fmt(t.window)} window, fewer than min_requests "
            f"({inp.min_requests}); accepted: at least {inp.min_requests / t.window:g} per second"
        )
    if inp.strategy == "canary" and len(t.configured_pauses) > 1 and min(t.configured_pauses[:-1]) < t.min_window:
        problems.append(
            f"{_where('pause')} = {_fmt(min(t.configured_pauses[:-1]))} is shorter than the shortest analysis "
            f"window ({_fmt(t.min_window)} = {WARMUP_SCRAPES} x {_where('scrape_interval')} "
            f"{inp.scrape_interval}); accepted: every pause at least {_fmt(t.min_window)}, so each weight "
            "is measured on its own data"
        )
    if inp.failure_limit >= t.background_count:
        problems.append(
            f"{_where('failure_limit')} = {inp.failure_limit} can never be exceeded by the "
            f"{t.background_count} measurement(s) of the analysis; accepted: at most "
            f"{t.background_count - 1} (lengthen {_where('pause')} or shorten {_where('analysis_interval')})"
        )
    if inp.hold_last_step:
        return
    if sum(t.configured_pauses) < t.worst_case_abort:
        problems.append(
            f"{_where('pause')}: the step plan pauses {_fmt(sum(t.configured_pauses))} in total, shorter than the "
            f"worst-case time to abort ({_fmt(t.worst_case_abort)} = {t.formula}); accepted: pauses adding up "
            f"to at least {_fmt(t.worst_case_abort)}, or hold_last_step (the canary would otherwise be promoted "
            "before its analysis can fail)"
        )
    elif t.configured_pauses[-1] < t.late_abort:
        problems.append(
            f"{_where('pause')}: the last pause {_fmt(t.configured_pauses[-1])} is shorter than the time to abort "
            f"a breakage starting at the last weight ({_fmt(t.late_abort)}); accepted: a last pause of at least "
            f"{_fmt(t.late_abort)}, or hold_last_step"
        )


def _fmt(seconds: float) -> str:
    return f"{seconds:g}s"


# --------------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------------
def _ceil_to(seconds: float, step: float) -> float:
    return math.ceil(seconds / step - 1e-9) * step


def _go_duration(seconds: float) -> str:
    whole = math.ceil(seconds)
    return f"{whole // 60}m" if whole % 60 == 0 and whole >= 60 else f"{whole}s"


@dataclass(frozen=True)
class Timing:
    """Every duration the strategy and the analysis are built from (seconds), derived from the steps.

    - ``warmup`` (the metrics' ``initialDelay``): two scrapes of the canary's new series.
    - ``window``: the analysis range ``max(interval, 3 scrapes)``, never longer than the shortest pause
      (each weight is judged on its own data) and never shorter than two scrapes. It cannot reach before
      the canary started: its series are new (its own pod-template hash).
    - ``late_abort``: a breakage starting at a step is aborted within ``window`` (the window fills with
      bad data) ``+ interval x (failureLimit + 1)`` (one interval to the next measurement, failureLimit
      more failures) ``+ controller reaction``.
    - ``worst_case_abort``: ``initialDelay + interval x (failureLimit + 1) + window + reaction``.
    - ``pauses``: the configured pauses, the last one lengthened (``hold_last_step``) to at least
      ``late_abort`` and to whatever the plan's total lacks of ``worst_case_abort``, rounded up to whole
      analysis intervals.
    """

    scrape: float
    interval: float
    failure_limit: int
    warmup: float
    window: float
    min_window: float
    reaction: float
    configured_pauses: tuple[float, ...]
    pauses: tuple[float, ...]
    background_count: int
    progress_deadline: float

    @property
    def measurements_to_fail(self) -> float:
        return self.interval * (self.failure_limit + 1)

    @property
    def worst_case_abort(self) -> float:
        return self.warmup + self.measurements_to_fail + self.window + self.reaction

    def blind_pause(self, inconclusive_limit: int) -> float:
        """When a canary without data pauses: the warm-up, then inconclusive_limit + 1 inconclusive measurements."""
        return self.warmup + self.interval * inconclusive_limit + self.reaction

    @property
    def late_abort(self) -> float:
        return self.window + self.measurements_to_fail + self.reaction

    @property
    def promotion_after(self) -> float:
        """Seconds from the first weight to full promotion (pods ready at once)."""
        return sum(self.pauses)

    @property
    def formula(self) -> str:
        return (
            f"initialDelay {_fmt(self.warmup)} + interval {_fmt(self.interval)} x (failureLimit "
            f"{self.failure_limit} + 1) + window {_fmt(self.window)} + reaction {_fmt(self.reaction)}"
        )

    @property
    def stable_hold(self) -> float:
        """scaleDownDelaySeconds: the previous ReplicaSet stays up this long after promotion, so a failure
        found right after it (post-promotion analysis, or a human) rolls back without a cold start."""
        return max(float(MIN_STABLE_HOLD_SECONDS), _ceil_to(self.worst_case_abort, 30))

    @property
    def post_promotion_count(self) -> int:
        """Measurements of a post-promotion run: enough for the window to fill and failureLimit + 1 failures."""
        return math.ceil(self.window / self.interval) + self.failure_limit + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "warmup_seconds": self.warmup,
            "window_seconds": self.window,
            "interval_seconds": self.interval,
            "failure_limit": self.failure_limit,
            "controller_reaction_seconds": self.reaction,
            "worst_case_abort_seconds": self.worst_case_abort,
            "late_abort_seconds": self.late_abort,
            "configured_pauses_seconds": list(self.configured_pauses),
            "pauses_seconds": list(self.pauses),
            "promotion_after_seconds": self.promotion_after,
            "stable_hold_seconds": self.stable_hold,
        }


def configured_pauses(inp: DeliveryInput) -> tuple[float, ...]:
    if inp.pauses:
        return tuple(duration_seconds(p) for p in inp.pauses)
    steps = len(inp.weights) if inp.strategy == "canary" else 1
    return (inp.pause_seconds,) * max(steps, 1)


def timing(inp: DeliveryInput) -> Timing:
    """The derived durations of ``inp`` (see ``Timing``); inputs are assumed valid (``validate``)."""
    scrape, interval, limit = inp.scrape_seconds, inp.interval_seconds, inp.failure_limit
    reaction = float(CONTROLLER_REACTION_SECONDS)
    given = configured_pauses(inp)
    warmup = WARMUP_SCRAPES * scrape
    min_window = WARMUP_SCRAPES * scrape
    wanted = max(interval, WINDOW_SCRAPES * scrape)
    # the last pause may be held longer; the others bound the window so each weight has its own data
    bound = min(given[:-1]) if len(given) > 1 else max(given[-1], wanted)
    window = max(min(wanted, bound), min_window)
    to_fail = interval * (limit + 1)
    late = window + to_fail + reaction
    worst = warmup + to_fail + window + reaction
    pauses = given
    if inp.hold_last_step:
        last = max(given[-1], late, worst - sum(given[:-1]))
        pauses = (*given[:-1], _ceil_to(last, interval))
    if inp.strategy == "blueGreen":
        background = int(pauses[0] // interval) + 1
    else:
        span = sum(pauses) + len(pauses) * inp.progress_deadline_seconds
        background = math.ceil(span / interval) + 1
    return Timing(
        scrape=scrape,
        interval=interval,
        failure_limit=limit,
        warmup=warmup,
        window=window,
        min_window=min_window,
        reaction=reaction,
        configured_pauses=given,
        pauses=pauses,
        background_count=background,
        progress_deadline=float(inp.progress_deadline_seconds),
    )


def worst_case_abort_seconds(inp: DeliveryInput) -> float:
    """For the render summary: initialDelay + interval x (failureLimit + 1) + window + controller reaction."""
    validate(inp)
    return timing(inp).worst_case_abort


def analysis_count(inp: DeliveryInput) -> int:
    """Measurements per AnalysisRun (the template's default ``measurements``).

    Canary (background analysis): enough to cover every step even when each weight waits the whole
    progress deadline for its pods, so analysis never ends before the last pause; Argo terminates the
    run as soon as the Rollout is fully promoted. Blue/green (pre-promotion): one measurement at the
    start and one per interval of the (held) pause, so promotion waits for the whole pause to be measured.
    """
    return timing(inp).background_count


@dataclass(frozen=True)
class AbortBudget:
    """Worst-case seconds from a bad canary's first request to the Rollout's abort, term by term."""

    warmup: float  # initialDelay: two scrapes of the canary's new series before the first measurement
    measurements: float  # interval x (failureLimit + 1): the next measurement, then failureLimit more failures
    window_lag: float  # the analysis window fills with the bad version's data
    controller_reaction: float

    @property
    def total(self) -> float:
        return self.warmup + self.measurements + self.window_lag + self.controller_reaction

    def as_dict(self) -> dict[str, float]:
        return {
            "warmup": self.warmup,
            "measurements": self.measurements,
            "window_lag": self.window_lag,
            "controller_reaction": self.controller_reaction,
            "total": self.total,
        }


def abort_budget(
    *,
    scrape_interval: str,
    evaluation_interval: str = "",
    analysis_interval: str,
    failure_limit: int,
    controller_reaction_seconds: float = CONTROLLER_REACTION_SECONDS,
    window: str = "",
) -> AbortBudget:
    """The worst case for an error ratio clearly above the threshold (e.g. 10 % against 5 %).

    ``evaluation_interval`` is accepted for compatibility and no longer a term: the analysis reads raw
    counters, not recording rules. ``window`` defaults to ``max(interval, 3 scrapes)`` (``timing``).
    """
    del evaluation_interval
    s = duration_seconds(scrape_interval)
    i = duration_seconds(analysis_interval)
    w = duration_seconds(window) if window else max(i, WINDOW_SCRAPES * s)
    return AbortBudget(WARMUP_SCRAPES * s, i * (failure_limit + 1), w, controller_reaction_seconds)


def _num(x: float) -> str:
    text = f"{x:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def _arg(name: str) -> str:
    return "{{args." + name + "}}"


def canary_selector() -> str:
    """The label matchers of the canary's series, with the template's argument placeholders."""
    return (
        f'namespace="{_arg(ARG_NAMESPACE)}", {cv.LABEL_APP}="{_arg(ARG_APP)}", '
        f'{cv.ROLLOUTS_HASH_SERIES_LABEL}="{_arg(ARG_CANARY_HASH)}"'
    )


def _promql_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def sli_queries(sli: CanarySli, window: str, min_requests: int) -> dict[str, str]:
    """PromQL of each metric (before argument substitution) on the canary's raw series over ``window``.

    The one place that names the series: switching to per-service recording rules is this function.
    Error ratio and P95 are gated on ``min_requests`` requests in the window (empty result otherwise),
    and 0/0 stays NaN: both read as "no evidence", which the conditions turn into Inconclusive.
    """
    sel = canary_selector()
    errors_sel = f'{sel}, {sli.status_label}=~"{_promql_string(sli.error_status_regex)}"'
    total = f"sum(increase({sli.requests}{{{sel}}}[{window}]))"
    errors = f"(sum(increase({sli.requests}{{{errors_sel}}}[{window}])) or vector(0))"
    enough = f"on() ({total} >= {min_requests})"
    return {
        METRIC_TRAFFIC: total,
        METRIC_ERROR_RATIO: f"({errors} / {total}) and {enough}",
        METRIC_LATENCY_P95: (
            f"histogram_quantile(0.95, sum by (le) (increase({sli.buckets}{{{sel}}}[{window}]))) and {enough}"
        ),
    }


def analysis_queries(inp: DeliveryInput | None = None) -> dict[str, str]:
    """PromQL of each metric of ``inp``'s template (default input: the builder's defaults)."""
    inp = inp or DeliveryInput(app="app", namespace="default")
    return sli_queries(inp.sli, _go_duration(timing(inp).window), inp.min_requests)


def conditions(threshold: float) -> tuple[str, str]:
    """(successCondition, failureCondition) on Argo's vector result, failing closed.

    A value below the threshold passes, at or above it fails; an empty vector (no data: idle, unscraped,
    fewer than min_requests) or NaN (0/0) satisfies neither, so the measurement is Inconclusive and
    the Rollout pauses for a human.
    """
    t = _num(threshold)
    return (
        f"len(result) > 0 && !isNaN(result[0]) && result[0] < {t}",
        f"len(result) > 0 && !isNaN(result[0]) && result[0] >= {t}",
    )


def traffic_conditions(min_requests: int) -> tuple[str, str]:
    """The canary served at least ``min_requests`` in the window; never a failure, Inconclusive otherwise."""
    return (f"len(result) > 0 && !isNaN(result[0]) && result[0] >= {min_requests}", "false")


def analysis_template(inp: DeliveryInput) -> dict[str, Any]:
    """The AnalysisTemplate (API form): traffic, error ratio and P95 latency of the canary ReplicaSet."""
    validate(inp)
    t = timing(inp)
    queries = sli_queries(inp.sli, _go_duration(t.window), inp.min_requests)
    checks = (
        (METRIC_TRAFFIC, traffic_conditions(inp.min_requests)),
        (METRIC_ERROR_RATIO, conditions(inp.error_ratio_threshold)),
        (METRIC_LATENCY_P95, conditions(inp.latency_p95_threshold_seconds)),
    )
    metrics = []
    for name, (success, failure) in checks:
        metrics.append(
            {
                "name": name,
                "initialDelay": _go_duration(t.warmup),
                "interval": inp.analysis_interval,
                "count": _arg(ARG_MEASUREMENTS),
                "failureLimit": inp.failure_limit,
                "inconclusiveLimit": inp.inconclusive_limit,
                "consecutiveErrorLimit": inp.consecutive_error_limit,
                "successCondition": success,
                "failureCondition": failure,
                "provider": {"prometheus": {"address": inp.prometheus_address, "query": queries[name], "timeout": 10}},
            }
        )
    if inp.synthetic_traffic is not None:
        metrics.insert(0, synthetic_traffic_metric(inp, t))
    return {
        "apiVersion": API_VERSION,
        "kind": "AnalysisTemplate",
        "metadata": {"name": inp.template, "namespace": inp.namespace, "labels": _labels(inp.app, "analysis")},
        "spec": {
            "args": [
                {"name": ARG_NAMESPACE, "value": inp.namespace},
                {"name": ARG_APP, "value": inp.app},
                {"name": ARG_CANARY_HASH},
                {"name": ARG_MEASUREMENTS, "value": str(t.background_count)},
            ],
            "metrics": metrics,
        },
    }


def synthetic_name(inp: DeliveryInput) -> str:
    """app.kubernetes.io/name of the synthetic-traffic pods: not the app's, so no app selector (Rollout,
    PodDisruptionBudget, app NetworkPolicy) ever counts them."""
    return f"{inp.app}-{SYNTHETIC_CONTAINER}"


def synthetic_traffic_network_policy_spec(inp: DeliveryInput) -> dict[str, Any]:
    """``allow-<app>-synthetic-traffic`` (snake_case, for pulumi_kubernetes): the Job's pods may reach the
    app's pods on the HTTP port (the namespace denies egress by default; the app's own policy already
    admits the app namespace). Create it beside the AnalysisTemplate when the option is on."""
    app_pods = [kb.peer_namespace(inp.namespace, {cv.LABEL_NAME: inp.app})]
    return kb.network_policy_spec(kb.selector(synthetic_name(inp)), egress=[(app_pods, [APP_PORT])])


def synthetic_target(inp: DeliveryInput) -> str:
    """The URL the synthetic traffic calls: the canary (blue/green: preview) Service, in-cluster."""
    assert inp.synthetic_traffic is not None
    service = inp.preview_service if inp.strategy == "blueGreen" else inp.canary
    port = inp.synthetic_traffic.service_port
    return f"http://{service}.{inp.namespace}.svc:{port}{inp.synthetic_traffic.path}"


def synthetic_traffic_metric(inp: DeliveryInput, t: Timing) -> dict[str, Any]:
    """An Argo Job metric: back-to-back Jobs (1 s apart) that each call the canary Service for one
    analysis interval. A Job fails only when no request got an answer (a measurement failure)."""
    syn = inp.synthetic_traffic
    assert syn is not None
    duration = int(t.interval)
    container = {
        "name": SYNTHETIC_CONTAINER,
        "image": syn.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python3", "-c", SYNTHETIC_SCRIPT],
        "env": [
            {"name": "TARGET_URL", "value": synthetic_target(inp)},
            {"name": "RPS", "value": _num(syn.requests_per_second)},
            {"name": "DURATION", "value": str(duration)},
        ],
        "resources": {
            "requests": {"cpu": "10m", "memory": "32Mi"},
            "limits": {"cpu": "100m", "memory": "64Mi", "ephemeral-storage": "16Mi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": APP_RUN_AS_USER,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    return {
        "name": METRIC_SYNTHETIC,
        "interval": "1s",
        "count": _arg(ARG_MEASUREMENTS),
        "failureLimit": inp.failure_limit,
        "consecutiveErrorLimit": inp.consecutive_error_limit,
        "provider": {
            "job": {
                "metadata": {"labels": _labels(synthetic_name(inp), SYNTHETIC_CONTAINER)},
                "spec": {
                    "backoffLimit": 0,
                    "activeDeadlineSeconds": duration + 30,
                    "ttlSecondsAfterFinished": 600,
                    "template": {
                        "metadata": {"labels": _labels(synthetic_name(inp), SYNTHETIC_CONTAINER)},
                        "spec": {
                            "restartPolicy": "Never",
                            "automountServiceAccountToken": False,
                            "containers": [container],
                        },
                    },
                },
            }
        },
    }


def _labels(app: str, component: str) -> dict[str, str]:
    return {
        cv.LABEL_NAME: app,
        cv.LABEL_COMPONENT: component,
        cv.LABEL_PART_OF: cv.PART_OF,
        cv.LABEL_MANAGED_BY: "pulumi",
    }


def _analysis_ref(inp: DeliveryInput, hash_source: str, measurements: int | None = None) -> dict[str, Any]:
    args: list[dict[str, Any]] = [{"name": ARG_CANARY_HASH, "valueFrom": {"podTemplateHashValue": hash_source}}]
    if measurements is not None:
        args.append({"name": ARG_MEASUREMENTS, "value": str(measurements)})
    args += [{"name": k, "value": v} for k, v in sorted(inp.extra_args.items())]
    return {"templates": [{"templateName": inp.template}], "args": args}


# --------------------------------------------------------------------------------------------------
# Rollout
# --------------------------------------------------------------------------------------------------
def canary_steps(inp: DeliveryInput) -> list[dict[str, Any]]:
    """setWeight then pause for each weight (the last pause held, see ``Timing``); then full promotion."""
    steps: list[dict[str, Any]] = []
    given = configured_pauses(inp)
    for i, (weight, seconds) in enumerate(zip(inp.weights, timing(inp).pauses, strict=True)):
        steps.append({"setWeight": weight})
        text = (inp.pauses[i] if inp.pauses else inp.pause) if seconds == given[i] else _go_duration(seconds)
        steps.append({"pause": {"duration": text}})
    return steps


def rollout_strategy(inp: DeliveryInput) -> dict[str, Any]:
    """``spec.strategy`` of the Rollout (API form)."""
    validate(inp)
    t = timing(inp)
    if inp.strategy == "blueGreen":
        return {
            "blueGreen": {
                "activeService": inp.stable,
                "previewService": inp.preview_service,
                "autoPromotionEnabled": True,
                # promoted after the (held) pause only if the pre-promotion analysis (count covers it) passed
                "autoPromotionSeconds": int(t.pauses[0]),
                "prePromotionAnalysis": _analysis_ref(inp, "Latest", t.background_count),
                # the same definition on the new active version under full traffic; the previous
                # ReplicaSet stays up until it is done, so a failure switches straight back
                "postPromotionAnalysis": _analysis_ref(inp, "Latest", t.post_promotion_count),
                "scaleDownDelaySeconds": int(
                    max(t.stable_hold, t.warmup + t.post_promotion_count * t.interval + t.reaction + 30)
                ),
                "abortScaleDownDelaySeconds": 30,
            }
        }
    canary: dict[str, Any] = {
        "canaryService": inp.canary,
        "stableService": inp.stable,
        "maxSurge": "25%",
        "maxUnavailable": 0,
        "steps": canary_steps(inp),
        # background analysis from the first step: a bad canary is caught at its first weight
        "analysis": {**_analysis_ref(inp, "Latest"), "startingStep": 0},
    }
    if inp.ingress:
        canary["trafficRouting"] = {"nginx": {"stableIngress": inp.ingress}}
        # the previous stable ReplicaSet stays scaled up after promotion: an undo is instant
        canary["scaleDownDelaySeconds"] = int(t.stable_hold)
    return {"canary": canary}


def rollout(
    inp: DeliveryInput, pod_template: Mapping[str, Any], *, replicas: int, labels: Mapping[str, str]
) -> dict[str, Any]:
    """The Rollout (API form) with the strategy of ``inp`` and ``pod_template`` (API form)."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Rollout",
        "metadata": {"name": inp.app, "namespace": inp.namespace, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": {cv.LABEL_NAME: inp.app}},
            "template": dict(pod_template),
            "minReadySeconds": 5,
            "progressDeadlineSeconds": inp.progress_deadline_seconds,
            # a canary whose pods never become ready is aborted, not left half-rolled
            "progressDeadlineAbort": True,
            "strategy": rollout_strategy(inp),
        },
    }


# --------------------------------------------------------------------------------------------------
# The upstream controller Deployment
# --------------------------------------------------------------------------------------------------
def controller_readiness_probe() -> dict[str, Any]:
    """Ready once the metrics server answers (as in the upstream Helm chart)."""
    return {
        "httpGet": {"path": "/metrics", "port": CONTROLLER_METRICS_PORT_NAME},
        "initialDelaySeconds": 10,
        "periodSeconds": 5,
        "timeoutSeconds": 4,
        "failureThreshold": 3,
        "successThreshold": 1,
    }


def harden_controller_deployment(
    props: Mapping[str, Any], *, image: str, resources: Resources = CONTROLLER_RESOURCES, replicas: int = 1
) -> dict[str, Any]:
    """A copy of the controller Deployment's properties (API form) with requests/limits, a readiness
    probe, the pinned image and ``replicas`` (leader election is on by default, so extra replicas are
    hot standbys). Raises ValueError when the manifest no longer has the expected container."""
    import copy

    out = copy.deepcopy(dict(props))
    spec = out.setdefault("spec", {})
    pod = spec.get("template", {}).get("spec", {})
    found = [c for c in pod.get("containers", []) if c.get("name") == CONTROLLER]
    if len(found) != 1:
        names = [c.get("name") for c in pod.get("containers", [])]
        raise ValueError(
            f"controller Deployment: expected one container named {CONTROLLER!r}, found {names}; "
            "the upstream manifest changed: review components/canary/specs.py"
        )
    c = found[0]
    res = c.setdefault("resources", {})
    k8s_res = resources.as_k8s()
    res["requests"] = {**res.get("requests", {}), **k8s_res["requests"]}
    res["limits"] = {**res.get("limits", {}), **k8s_res["limits"]}
    c["readinessProbe"] = controller_readiness_probe()
    c["image"] = image
    c["imagePullPolicy"] = "IfNotPresent"
    spec["replicas"] = replicas
    return out
