"""Progressive delivery as plain data: strategy, Rollout, AnalysisTemplate, controller hardening, timing.

Pure functions, no Pulumi: the CanaryDelivery component wires their output into resources and the tests
check it on its own (CRD schemas, a real Prometheus, ``analysis_eval``).

- ``DeliveryInput`` (``components.service.delivery.delivery_input(spec)``) is everything a strategy
  depends on; ``validate`` rejects bad strategy configuration with one message per problem, naming the
  field and where it is set.
- ``analysis_template`` / ``rollout_strategy`` / ``rollout`` return the custom resources in API form
  (camelCase), because ``apiextensions.CustomResource`` passes its spec through untranslated.
- ``harden_controller_deployment`` patches the upstream controller Deployment (requests/limits,
  readiness probe, pinned image); ``component.py`` applies it as a Pulumi transform.
- ``abort_budget`` is the worst-case time from a bad canary's first request to the abort.

Canary analysis runs in the background from step 0, queries the SLI recording rules of
``components.conventions`` for the canary ReplicaSet only (``rollouts_pod_template_hash`` = the hash Argo
passes as ``canary-hash``), and has ``failureLimit`` failed measurements of slack. No data (no request
has reached the canary yet) counts as success: a canary that never gets ready is aborted by
``progressDeadlineAbort`` instead, and a canary that serves errors produces data within seconds.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components import conventions as cv
from components.config import Resources, duration_seconds
from components.monitoring import names as mon

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
METRIC_ERROR_RATIO = "error-ratio"
METRIC_LATENCY_P95 = "latency-p95"
# Argo's default, written out so the timing below does not depend on a default changing.
CONSECUTIVE_ERROR_LIMIT = 4
PROGRESS_DEADLINE_SECONDS = 300
# Time the controllers need to react once the deciding measurement is taken: the AnalysisRun is
# reconciled right after the measurement and the Rollout on the AnalysisRun's update (informers).
CONTROLLER_REACTION_SECONDS = 10
ABORT_BUDGET_SECONDS = 180  # prod objective: a bad canary is aborted within 3 minutes of its first traffic

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
    if pause is not None and interval is not None and pause < interval:
        problems.append(
            f"{_where('pause')} = {inp.pause!r} is shorter than {_where('analysis_interval')} = "
            f"{inp.analysis_interval!r}; accepted: a pause of at least one analysis interval (each "
            "step must be measured at least once before the next weight)"
        )
    if inp.strategy == "canary":
        weights = list(inp.weights)
        if (
            not weights
            or any(isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= 99 for w in weights)
            or any(b <= a for a, b in itertools.pairwise(weights))
        ):
            problems.append(
                f"{_where('weights')} = {weights!r} is invalid; accepted: a non-empty list of integer "
                "weights strictly increasing within 1..99, e.g. [20, 50, 80]"
            )
        if inp.canary == inp.stable:
            problems.append(f"canary_service = {inp.canary!r} is the stable Service; accepted: a distinct name")
    if inp.strategy == "blueGreen":
        if not inp.preview_service:
            problems.append(
                "preview_service is empty; accepted: the name of the preview Service (a blueGreen "
                "strategy (platform.yaml delivery.strategy) needs a preview Service for the new version "
                "and its pre-promotion analysis)"
            )
        elif inp.preview_service == inp.stable:
            problems.append(
                f"preview_service = {inp.preview_service!r} is the active Service; accepted: a distinct name"
            )
        if inp.ingress and not inp.ingress_host:
            problems.append("ingress is set without ingress_host; accepted: both or neither")
    for fld in ("stable_service", "canary_service", "preview_service", "ingress", "template_name"):
        value = getattr(inp, fld)
        if value and not _DNS_LABEL.match(value):
            problems.append(f"{fld} = {value!r} is invalid; accepted: a DNS-1123 label")
    if isinstance(inp.failure_limit, bool) or not isinstance(inp.failure_limit, int) or inp.failure_limit < 0:
        problems.append(f"{_where('failure_limit')} = {inp.failure_limit!r} is invalid; accepted: an integer >= 0")
    for fld, top in (("error_ratio_threshold", 1.0), ("latency_p95_threshold_seconds", 3600.0)):
        value = getattr(inp, fld)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < top:
            problems.append(f"{_where(fld)} = {value!r} is invalid; accepted: a number above 0 and below {top:g}")
    if not problems and inp.failure_limit >= analysis_count(inp):
        problems.append(
            f"{_where('failure_limit')} = {inp.failure_limit} can never be exceeded by the "
            f"{analysis_count(inp)} measurement(s) of the analysis; accepted: at most "
            f"{analysis_count(inp) - 1} (lengthen {_where('pause')} or shorten "
            f"{_where('analysis_interval')})"
        )
    if not isinstance(inp.progress_deadline_seconds, int) or inp.progress_deadline_seconds < 30:
        problems.append(
            f"progress_deadline_seconds = {inp.progress_deadline_seconds!r} is invalid; accepted: an integer >= 30"
        )
    if problems:
        raise StrategyError(problems)


# --------------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------------
def analysis_count(inp: DeliveryInput) -> int:
    """Measurements per AnalysisRun.

    Canary (background analysis): enough to cover every step even when each weight waits the whole
    progress deadline for its pods, so analysis never ends before the last pause; Argo terminates the
    run as soon as the Rollout is fully promoted. Blue/green (pre-promotion): one measurement at the
    start and one per interval of the pause, so promotion waits for the whole pause to be measured.
    """
    interval = inp.interval_seconds
    if inp.strategy == "blueGreen":
        return int(inp.pause_seconds // interval) + 1
    span = len(inp.weights) * (inp.pause_seconds + inp.progress_deadline_seconds)
    return math.ceil(span / interval) + 1


@dataclass(frozen=True)
class AbortBudget:
    """Worst-case seconds from a bad canary's first request to the Rollout's abort, term by term."""

    first_scrape: float  # the canary's first request counter is scraped at most one scrape interval later
    second_scrape: float  # rate() needs two samples
    recording_rule: float  # the SLI rule is evaluated at most one evaluation interval later
    first_failed_measurement: float  # the next measurement comes at most one analysis interval later
    further_failed_measurements: float  # failureLimit more failed measurements, one interval apart
    controller_reaction: float

    @property
    def total(self) -> float:
        return (
            self.first_scrape
            + self.second_scrape
            + self.recording_rule
            + self.first_failed_measurement
            + self.further_failed_measurements
            + self.controller_reaction
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "first_scrape": self.first_scrape,
            "second_scrape": self.second_scrape,
            "recording_rule": self.recording_rule,
            "first_failed_measurement": self.first_failed_measurement,
            "further_failed_measurements": self.further_failed_measurements,
            "controller_reaction": self.controller_reaction,
            "total": self.total,
        }


def abort_budget(
    *,
    scrape_interval: str,
    evaluation_interval: str,
    analysis_interval: str,
    failure_limit: int,
    controller_reaction_seconds: float = CONTROLLER_REACTION_SECONDS,
) -> AbortBudget:
    """The worst case for an error ratio clearly above the threshold (e.g. 10 % against 5 %).

    Data: <= 2 scrapes + 1 rule evaluation after the first request (the canary's series are new, so its
    ratio is not diluted by older samples). Decision: the analysis fails after failureLimit + 1 failed
    measurements, the first at most one interval after the data exists.
    """
    s = duration_seconds(scrape_interval)
    e = duration_seconds(evaluation_interval)
    i = duration_seconds(analysis_interval)
    return AbortBudget(s, s, e, i, failure_limit * i, controller_reaction_seconds)


# --------------------------------------------------------------------------------------------------
# AnalysisTemplate
# --------------------------------------------------------------------------------------------------
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


def analysis_queries() -> dict[str, str]:
    """PromQL of each metric (before argument substitution): the SLI recording rules, canary only."""
    sel = canary_selector()
    return {
        METRIC_ERROR_RATIO: f"max({cv.SLI_ERROR_RATIO_BY_HASH}{{{sel}}})",
        METRIC_LATENCY_P95: f"max({cv.SLI_P95_BY_HASH}{{{sel}}})",
    }


def conditions(threshold: float) -> tuple[str, str]:
    """(successCondition, failureCondition) on Argo's vector result.

    An empty vector (no request has reached the canary yet) and NaN (no request in the window) are
    success: there is no evidence against the canary. Otherwise the value must stay below the threshold.
    """
    t = _num(threshold)
    return (
        f"len(result) == 0 || isNaN(result[0]) || result[0] < {t}",
        f"len(result) > 0 && !isNaN(result[0]) && result[0] >= {t}",
    )


def analysis_template(inp: DeliveryInput) -> dict[str, Any]:
    """The AnalysisTemplate (API form): error ratio and P95 latency of the canary ReplicaSet."""
    validate(inp)
    count = analysis_count(inp)
    queries = analysis_queries()
    metrics = []
    for name, threshold in (
        (METRIC_ERROR_RATIO, inp.error_ratio_threshold),
        (METRIC_LATENCY_P95, inp.latency_p95_threshold_seconds),
    ):
        success, failure = conditions(threshold)
        metrics.append(
            {
                "name": name,
                "interval": inp.analysis_interval,
                "count": count,
                "failureLimit": inp.failure_limit,
                "consecutiveErrorLimit": inp.consecutive_error_limit,
                "successCondition": success,
                "failureCondition": failure,
                "provider": {"prometheus": {"address": inp.prometheus_address, "query": queries[name], "timeout": 10}},
            }
        )
    return {
        "apiVersion": API_VERSION,
        "kind": "AnalysisTemplate",
        "metadata": {"name": inp.template, "namespace": inp.namespace, "labels": _labels(inp.app, "analysis")},
        "spec": {
            "args": [
                {"name": ARG_NAMESPACE, "value": inp.namespace},
                {"name": ARG_APP, "value": inp.app},
                {"name": ARG_CANARY_HASH},
            ],
            "metrics": metrics,
        },
    }


def _labels(app: str, component: str) -> dict[str, str]:
    return {
        cv.LABEL_NAME: app,
        cv.LABEL_COMPONENT: component,
        cv.LABEL_PART_OF: cv.PART_OF,
        cv.LABEL_MANAGED_BY: "pulumi",
    }


def _analysis_ref(inp: DeliveryInput, hash_source: str) -> dict[str, Any]:
    return {
        "templates": [{"templateName": inp.template}],
        "args": [
            {"name": ARG_CANARY_HASH, "valueFrom": {"podTemplateHashValue": hash_source}},
            *({"name": k, "value": v} for k, v in sorted(inp.extra_args.items())),
        ],
    }


# --------------------------------------------------------------------------------------------------
# Rollout
# --------------------------------------------------------------------------------------------------
def canary_steps(inp: DeliveryInput) -> list[dict[str, Any]]:
    """setWeight then pause for each weight; the last pause is followed by full promotion."""
    steps: list[dict[str, Any]] = []
    for weight in inp.weights:
        steps.append({"setWeight": weight})
        steps.append({"pause": {"duration": inp.pause}})
    return steps


def rollout_strategy(inp: DeliveryInput) -> dict[str, Any]:
    """``spec.strategy`` of the Rollout (API form)."""
    validate(inp)
    if inp.strategy == "blueGreen":
        return {
            "blueGreen": {
                "activeService": inp.stable,
                "previewService": inp.preview_service,
                "autoPromotionEnabled": True,
                # promoted after the pause only if the pre-promotion analysis (count covers the pause) passed
                "autoPromotionSeconds": int(inp.pause_seconds),
                "prePromotionAnalysis": _analysis_ref(inp, "Latest"),
                "scaleDownDelaySeconds": 30,
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
# snake_case (components.k8s builders) -> API camelCase, for custom resources
# --------------------------------------------------------------------------------------------------
_VERBATIM_KEYS = frozenset(
    {"labels", "annotations", "match_labels", "matchLabels", "node_selector", "nodeSelector", "data", "string_data"}
)


def _camel_key(key: str) -> str:
    if key == "from_":
        return "from"
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def camel(value: Any) -> Any:
    """Recursively turn snake_case keys into the API's camelCase (label/annotation maps untouched)."""
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            key = _camel_key(k) if isinstance(k, str) else k
            out[key] = dict(v) if k in _VERBATIM_KEYS and isinstance(v, Mapping) else camel(v)
        return out
    if isinstance(value, list | tuple):
        return [camel(v) for v in value]
    return value


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
