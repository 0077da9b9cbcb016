"""What Monitoring gives one onboarded service, generated from its ``ServiceSpec``: one definition feeds the
SLI recording rules, the fast threshold alerts, the SLO burn-rate alerts, the error-budget rules, the SLO
dashboard (which reads the uniform names below) and the blackbox probe of its endpoint.

Uniform recorded names (every service, whatever its metric names; labels ``{namespace, service}``):

- ``namespace_service:sli_requests:rate<w>``, ``namespace_service:sli_errors:rate<w>``,
  ``namespace_service:sli_error_ratio:rate<w>``, ``namespace_service:sli_latency_seconds:p95_<w>`` for
  ``w`` = the fast window (``fast_window(evaluation_interval)``: 4 evaluations, 1m at 15 s, 2m at 30 s) and ``5m``;
- the same per ReplicaSet (``namespace_service_hash:...``, plus ``rollouts_pod_template_hash``) for the
  canary analysis;
- per SLO (plus label ``slo``): ``namespace_service_slo:sli_bad_ratio:rate<w>`` and
  ``namespace_service_slo:burn_rate:<w>`` for every burn window, the SLO window included
  (``5m 30m 1h 2h 6h 1d 3d`` and ``28d`` or ``30d``), ``namespace_service_slo:error_budget_remaining:ratio``
  and the constants ``namespace_service_slo:objective:ratio`` / ``namespace_service_slo:error_budget:ratio``.

The SLI contract (``spec.sli``) only decides how these are computed: the OpenTelemetry HTTP names by
default, or the service's own (``http_requests_total``/``status``, promhttp's ``code``...).

Alerts (runbooks: docs/MONITORING_GUIDE.md):

- ``HighErrorRatio`` (critical) / ``HighLatencyP95`` (warning): the fast threshold alerts on the fast
  window with ``for`` = ``fast_for(evaluation_interval)``; at 15 s they fire 1.75 min after errors step to
  10 %, 2 min at 6 %, 1.5 min after P95 steps to 800 ms, and never at 4.9 % or 450 ms (bench/detection.py).
- ``ErrorBudgetFastBurn`` (critical, a page) / ``ErrorBudgetSlowBurn`` (warning, a ticket): the Google SRE
  workbook's multi-window, multi-burn-rate alerts. A window pair fires when both its long and its short
  window burn faster than the rate that consumes the given share of the budget in the long window:
  page at 2 % in 1 h (short 5 m) or 5 % in 6 h (short 30 m); ticket at 10 % in 1 d (short 2 h) or 10 % in
  3 d (short 6 h). For a 30 d SLO the burn rates are the workbook's 14.4, 6, 3 and 1; a 28 d SLO scales them
  (13.44, 5.6, 2.8, 0.93), since the same share of a shorter budget goes faster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from components import conventions as cv
from components.addons import MonitoringAddOns
from components.monitoring.alert import alert_rule
from components.monitoring.rules import validate_rule_group
from components.monitoring.scrape import duration_seconds
from components.monitoring.specs import ProbeTarget

if TYPE_CHECKING:  # types only: the builders import no Pulumi (components.service.spec reads components.config)
    from components.service.spec import ServiceSpec, SliContract, Slo

SERVICE_LABEL = "service"
BY = f"namespace, {SERVICE_LABEL}"
BY_HASH = f"namespace, {SERVICE_LABEL}, {cv.ROLLOUTS_HASH_SERIES_LABEL}"
DASHBOARD_WINDOW = "5m"
WINDOW_HOURS = {"5m": 5 / 60, "30m": 0.5, "1h": 1, "2h": 2, "6h": 6, "1d": 24, "3d": 72, "28d": 672, "30d": 720}


@dataclass(frozen=True)
class BurnWindow:
    """One workbook condition: both windows burn faster than ``budget_share`` of the budget in ``long``."""

    long: str
    short: str
    budget_share: float
    severity: str  # critical: page; warning: ticket

    def burn_rate(self, slo_window: str) -> float:
        return self.budget_share * WINDOW_HOURS[slo_window] / WINDOW_HOURS[self.long]


PAGE = (BurnWindow("1h", "5m", 0.02, "critical"), BurnWindow("6h", "30m", 0.05, "critical"))
TICKET = (BurnWindow("1d", "2h", 0.10, "warning"), BurnWindow("3d", "6h", 0.10, "warning"))
BURN_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
ALERT_FAST_BURN = "ErrorBudgetFastBurn"
ALERT_SLOW_BURN = "ErrorBudgetSlowBurn"


# --- names ------------------------------------------------------------------------------------------
def sli_requests(window: str, *, by_hash: bool = False) -> str:
    return f"{_level(by_hash)}:sli_requests:rate{window}"


def sli_errors(window: str, *, by_hash: bool = False) -> str:
    return f"{_level(by_hash)}:sli_errors:rate{window}"


def sli_error_ratio(window: str, *, by_hash: bool = False) -> str:
    return f"{_level(by_hash)}:sli_error_ratio:rate{window}"


def sli_latency_p95(window: str, *, by_hash: bool = False) -> str:
    return f"{_level(by_hash)}:sli_latency_seconds:p95_{window}"


def slo_bad_ratio(window: str) -> str:
    return f"namespace_service_slo:sli_bad_ratio:rate{window}"


def slo_burn_rate(window: str) -> str:
    return f"namespace_service_slo:burn_rate:{window}"


SLO_BUDGET_REMAINING = "namespace_service_slo:error_budget_remaining:ratio"
SLO_OBJECTIVE = "namespace_service_slo:objective:ratio"
SLO_ERROR_BUDGET = "namespace_service_slo:error_budget:ratio"


def _level(by_hash: bool) -> str:
    return "namespace_service_hash" if by_hash else "namespace_service"


def fast_window(evaluation_interval: str) -> str:
    """The threshold alerts' window: 4 evaluations (1m at prod's 15 s, 2m at dev's 30 s). Four samples per
    rate keep one late scrape from emptying it; shorter would page on noise, longer delays detection."""
    return _duration(4 * duration_seconds(evaluation_interval, "evaluation_interval"))


def fast_for(evaluation_interval: str) -> str:
    """The threshold alerts' ``for``: as long as their window, so one bad window never pages alone."""
    return fast_window(evaluation_interval)


def _duration(seconds: float) -> str:
    if seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{math.ceil(seconds)}s"


def _num(value: float) -> str:
    return f"{value:.6g}"


def _le_regex(threshold: float) -> str:
    """Match the bucket label of ``threshold`` however the client spelled it ("0.5", "1", "1.0")."""
    text = _num(threshold)
    spellings = [text] if "." in text or "e" in text else [text, f"{text}.0"]
    return "|".join(s.replace(".", "\\\\.") for s in spellings)


# --- rules ------------------------------------------------------------------------------------------
def _selector(spec: ServiceSpec, extra: str = "") -> str:
    sel = f'namespace="{spec.namespace}", {SERVICE_LABEL}="{spec.name}"'
    return f"{{{sel}{', ' + extra if extra else ''}}}"


def _errors_matcher(sli: SliContract) -> str:
    return f'{sli.status_label}=~"{sli.error_status_regex}"'


def sli_rules(spec: ServiceSpec, windows: tuple[str, ...]) -> list[dict[str, Any]]:
    sli = spec.sli
    rules: list[dict[str, Any]] = []
    for by_hash in (False, True):
        by = BY_HASH if by_hash else BY
        for w in windows:
            total = f"rate({sli.requests}{_selector(spec)}[{w}])"
            errors = f"rate({sli.requests}{_selector(spec, _errors_matcher(sli))}[{w}])"
            rules += [
                {"record": sli_requests(w, by_hash=by_hash), "expr": f"sum by ({by}) ({total})"},
                {
                    # 0, not absent, when there are requests and no errors; no series when there is no traffic.
                    "record": sli_errors(w, by_hash=by_hash),
                    "expr": f"sum by ({by}) ({errors})\nor\n0 * sum by ({by}) ({total})",
                },
                {
                    "record": sli_error_ratio(w, by_hash=by_hash),
                    "expr": f"{sli_errors(w, by_hash=by_hash)}{_selector(spec)}\n/\n"
                    f"{sli_requests(w, by_hash=by_hash)}{_selector(spec)} > -1",
                },
                {
                    "record": sli_latency_p95(w, by_hash=by_hash),
                    "expr": f"histogram_quantile(0.95, sum by ({by}, le) (rate({sli.buckets}{_selector(spec)}[{w}])))",
                },
            ]
    return rules


def _bad_ratio_expr(spec: ServiceSpec, slo: Slo, window: str) -> str:
    sli = spec.sli
    if slo.kind == "availability":
        total = f"sum by ({BY}) (rate({sli.requests}{_selector(spec)}[{window}]))"
        bad = f"sum by ({BY}) (rate({sli.requests}{_selector(spec, _errors_matcher(sli))}[{window}]))"
        return f"(\n  {bad}\n  or\n  0 * {total}\n)\n/\n{total} > -1"
    count = f"sum by ({BY}) (rate({sli.duration_histogram}_count{_selector(spec)}[{window}]))"
    le = 'le=~"' + _le_regex(slo.threshold_seconds) + '"'
    fast = f"sum by ({BY}) (rate({sli.buckets}{_selector(spec, le)}[{window}]))"
    return f"1 - (\n  {fast}\n  /\n  {count}\n) > -1"


def slo_rules(spec: ServiceSpec, slo: Slo) -> list[dict[str, Any]]:
    labels = {"slo": slo.name}
    sel = _selector(spec, f'slo="{slo.name}"')
    budget = slo.error_budget
    rules: list[dict[str, Any]] = [
        {
            "record": SLO_OBJECTIVE,
            "expr": f"vector({_num(slo.objective_percent / 100)})",
            "labels": {"namespace": spec.namespace, SERVICE_LABEL: spec.name, **labels},
        },
        {
            "record": SLO_ERROR_BUDGET,
            "expr": f"vector({_num(budget)})",
            "labels": {"namespace": spec.namespace, SERVICE_LABEL: spec.name, **labels},
        },
    ]
    windows = tuple(dict.fromkeys((*BURN_WINDOWS, slo.window)))
    for w in windows:
        rules.append({"record": slo_bad_ratio(w), "expr": _bad_ratio_expr(spec, slo, w), "labels": labels})
        rules.append(
            {"record": slo_burn_rate(w), "expr": f"{slo_bad_ratio(w)}{sel} / {_num(budget)}", "labels": labels}
        )
    rules.append({"record": SLO_BUDGET_REMAINING, "expr": f"1 - {slo_burn_rate(slo.window)}{sel}", "labels": labels})
    return rules


def _burn_expr(spec: ServiceSpec, slo: Slo, conditions: tuple[BurnWindow, ...]) -> str:
    sel = _selector(spec, f'slo="{slo.name}"')
    parts = []
    for c in conditions:
        rate = _num(c.burn_rate(slo.window))
        parts.append(f"(\n  {slo_burn_rate(c.long)}{sel} > {rate}\n  and\n  {slo_burn_rate(c.short)}{sel} > {rate}\n)")
    return "\nor\n".join(parts)


def burn_alerts(spec: ServiceSpec, slo: Slo, runbook_base_url: str) -> list[dict[str, Any]]:
    what = (
        "requests fail" if slo.kind == "availability" else f"requests are slower than {_num(slo.threshold_seconds)} s"
    )
    objective = f"{_num(slo.objective_percent)} % over {slo.window}"
    out = []
    for name, conditions, for_, verb in (
        (ALERT_FAST_BURN, PAGE, "2m", "will be gone in days, not weeks"),
        (ALERT_SLOW_BURN, TICKET, "15m", "is being spent faster than the SLO window allows"),
    ):
        rates = ", ".join(f"{_num(c.burn_rate(slo.window))}x over {c.long} and {c.short}" for c in conditions)
        out.append(
            alert_rule(
                name,
                _burn_expr(spec, slo, conditions),
                severity=conditions[0].severity,
                for_=for_,
                summary=f"{spec.name} in {spec.namespace} burns its {slo.name} error budget "
                + ("fast" if name == ALERT_FAST_BURN else "slowly"),
                description=f"Too many {spec.name} {what} for its {slo.name} SLO ({objective}): the error budget "
                f"{verb} (burn rate {{{{ $value | humanize }}}}x; thresholds {rates}).",
                runbook_base_url=runbook_base_url,
                labels={"namespace": spec.namespace, SERVICE_LABEL: spec.name, "slo": slo.name, "team": spec.team},
            )
        )
    return out


def threshold_alerts(spec: ServiceSpec, *, runbook_base_url: str, evaluation_interval: str) -> list[dict[str, Any]]:
    w = fast_window(evaluation_interval)
    for_ = fast_for(evaluation_interval)
    t = spec.thresholds
    sel = _selector(spec)
    return [
        alert_rule(
            "HighErrorRatio",
            f"{sli_error_ratio(w)}{sel} > {_num(t.error_ratio)}",
            severity="critical",
            for_=for_,
            summary=f"{spec.name} in {spec.namespace} fails more than {_num(t.error_ratio * 100)} % of requests",
            description="{{ $value | humanizePercentage }} of the requests to "
            f"{spec.name} in {spec.namespace} failed over the last {w} (threshold: at most "
            f"{_num(t.error_ratio * 100)} %).",
            runbook_base_url=runbook_base_url,
            labels={"namespace": spec.namespace, SERVICE_LABEL: spec.name, "team": spec.team},
        ),
        alert_rule(
            "HighLatencyP95",
            f"{sli_latency_p95(w)}{sel} > {_num(t.latency_p95_seconds)}",
            severity="warning",
            for_=for_,
            summary=f"{spec.name} in {spec.namespace} is slow (P95 above {_num(t.latency_p95_seconds)} s)",
            description=f"The 95th percentile latency of {spec.name} in {spec.namespace} is "
            "{{ $value | humanizeDuration }} over the last " + f"{w} (threshold: at most "
            f"{_num(t.latency_p95_seconds)} s).",
            runbook_base_url=runbook_base_url,
            labels={"namespace": spec.namespace, SERVICE_LABEL: spec.name, "team": spec.team},
        ),
    ]


def probe_target(spec: ServiceSpec) -> ProbeTarget:
    """The blackbox probe of the service's endpoint through its (stable) Service: readiness path, else /."""
    port = spec.http_port.port
    path = spec.container.readiness.path if spec.container.readiness else "/"
    return ProbeTarget(spec.name, spec.namespace, f"http://{spec.name}.{spec.namespace}.svc:{port}{path}")


def service_rule_group(spec: ServiceSpec, *, runbook_base_url: str, evaluation_interval: str) -> dict[str, Any]:
    windows = tuple(dict.fromkeys((fast_window(evaluation_interval), DASHBOARD_WINDOW)))
    rules = sli_rules(spec, windows)
    for slo in spec.slos:
        rules += slo_rules(spec, slo)
    rules += threshold_alerts(spec, runbook_base_url=runbook_base_url, evaluation_interval=evaluation_interval)
    for slo in spec.slos:
        rules += burn_alerts(spec, slo, runbook_base_url)
    # Every recorded series already carries {namespace, service}; stating them as rule labels too makes each
    # rule unique across services (promtool's duplicate-rule lint) and survives a sum that would drop them.
    own = {"namespace": spec.namespace, SERVICE_LABEL: spec.name}
    rules = [{**r, "labels": {**own, **r.get("labels", {})}} if "record" in r else r for r in rules]
    group = {"name": f"service-{spec.namespace}-{spec.name}", "rules": rules}
    validate_rule_group(group, f"service {spec.name}")
    return group


def service_addons(spec: ServiceSpec, *, runbook_base_url: str, evaluation_interval: str) -> MonitoringAddOns:
    """Everything Monitoring adds for one service: its rule group (SLIs, SLOs, alerts) and its probe.

    The service's pods are scraped by the annotation-based pod job (``kubernetes-pods``), which labels
    every series with ``namespace``, ``service`` (pod label ``app.kubernetes.io/name``) and
    ``rollouts_pod_template_hash``; the dashboards select the service with a ``service`` variable.
    """
    return MonitoringAddOns(
        rule_groups=(
            service_rule_group(spec, runbook_base_url=runbook_base_url, evaluation_interval=evaluation_interval),
        ),
        probes=(probe_target(spec),),
    )
