"""Evaluate an AnalysisTemplate against a Prometheus HTTP API the way Argo Rollouts v1.9 does.

What it reproduces (argo-rollouts v1.9.1: metricproviders/prometheus, utils/evaluate, analysis/analysis.go):

- Arguments: ``{{args.<name>}}`` in the metric is replaced by the run's argument values (template
  defaults, overridden by the Rollout's); an argument without a value is an error naming it.
- Query: ``GET <address>/api/v1/query?query=<query exactly as written>``. A vector (or matrix) result
  becomes ``result`` = the list of sample values, so conditions read ``result[0]``; a scalar becomes a
  number. A failed query, an unsupported result type or a condition that cannot be evaluated (``result[0]``
  of an empty vector...) is a measurement **Error**.
- Conditions (expr language subset: ``len``, ``isNaN``, ``isInf``, ``asFloat``, ``asInt``, ``result[i]``,
  comparisons, ``&&``/``||``/``!`` and ``and``/``or``/``not``, arithmetic): both set: failure wins, neither
  true is Inconclusive; only success: not success is Failed; only failure: not failure is Successful;
  none: Successful.
- ``initialDelay``: the first measurement is taken that long after the run starts.
- ``count``, ``failureLimit`` and friends may be arguments (``"{{args.measurements}}"``): they are
  substituted like the query, then read as integers.
- Assessment per metric: Failed when failed > failureLimit, Inconclusive when inconclusive >
  inconclusiveLimit, Error when consecutive errors > consecutiveErrorLimit (default 4), Successful when
  ``count`` measurements are taken (errors do not count). The run stops at the first metric that
  completes Failed, Error or Inconclusive, as Argo terminates the run then. The Rollout aborts on a
  Failed or Error run and pauses on an Inconclusive one.

``run_analysis`` drives real measurements (``interval`` apart, or a caller's shorter ``interval_override``)
and returns every measurement with its outcome, the run phase and whether the Rollout would abort.
"""

from __future__ import annotations

import ast
import json
import math
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SUCCESSFUL = "Successful"
FAILED = "Failed"
INCONCLUSIVE = "Inconclusive"
ERROR = "Error"
RUNNING = "Running"
DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4
_ARG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}")
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_GO_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class AnalysisError(ValueError):
    """The template cannot be evaluated at all (missing argument, bad field); names the field."""


class ConditionError(ValueError):
    """A condition failed to evaluate for this result (an Argo measurement Error)."""


# --------------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------------
def resolve_args(template_args: Sequence[Mapping[str, Any]], given: Mapping[str, str]) -> dict[str, str]:
    """The run's argument values: the template's ``value`` defaults overridden by ``given``."""
    declared = {a["name"]: a.get("value") for a in template_args}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise AnalysisError(f"args {unknown} are not declared by the template; declared: {sorted(declared)}")
    values = {**declared, **given}
    missing = sorted(n for n, v in values.items() if v is None)
    if missing:
        raise AnalysisError(f"args {missing} have no value; accepted: a value in the template or given by the run")
    return {n: str(v) for n, v in values.items()}


def substitute(value: Any, args: Mapping[str, str]) -> Any:
    """``value`` (str, list or mapping) with every ``{{args.x}}`` replaced."""
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            if m.group(1) not in args:
                raise AnalysisError(f"{{{{args.{m.group(1)}}}}} is not a resolved argument; known: {sorted(args)}")
            return args[m.group(1)]

        return _ARG.sub(repl, value)
    if isinstance(value, Mapping):
        return {k: substitute(v, args) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, args) for v in value]
    return value


def go_duration_seconds(value: str) -> float:
    """Seconds of a Go duration such as ``30s``, ``1m30s`` or ``500ms``."""
    if not isinstance(value, str) or not value or _GO_DURATION.sub("", value) != "":
        raise AnalysisError(f"interval = {value!r} is invalid; accepted: a Go duration such as 30s or 1m")
    return sum(float(n) * _GO_UNITS[u] for n, u in _GO_DURATION.findall(value))


# --------------------------------------------------------------------------------------------------
# Conditions (the subset of antonmedv/expr Argo users write)
# --------------------------------------------------------------------------------------------------
def _to_python(condition: str) -> str:
    out = re.sub(r"&&", " and ", condition)
    out = re.sub(r"\|\|", " or ", out)
    out = re.sub(r"!(?!=)", " not ", out)
    return out.strip()


_FUNCS: dict[str, Callable[..., Any]] = {
    "len": len,
    "isNaN": lambda x: isinstance(x, float) and math.isnan(x),
    "isInf": lambda x: isinstance(x, float) and math.isinf(x),
    "asFloat": float,
    "asInt": lambda x: int(float(x)),
}


def _eval(node: ast.AST, result: Any) -> Any:
    if isinstance(node, ast.Expression):
        return _eval(node.body, result)
    if isinstance(node, ast.BoolOp):
        # generators keep expr's short-circuit: later operands are not evaluated once decided
        if isinstance(node.op, ast.And):
            return all(_truth(_eval(v, result)) for v in node.values)
        return any(_truth(_eval(v, result)) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, result)
        if isinstance(node.op, ast.Not):
            return not _truth(operand)
        if isinstance(node.op, ast.USub) and _is_number(operand):
            return -operand
        raise ConditionError(f"unsupported unary operator on {operand!r}")
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1:
            raise ConditionError("chained comparisons are not expr syntax")
        left, right = _eval(node.left, result), _eval(node.comparators[0], result)
        if not (_is_number(left) and _is_number(right)):
            raise ConditionError(f"cannot compare {left!r} with {right!r}")
        op = node.ops[0]
        ops: dict[type, Callable[[Any, Any], bool]] = {
            ast.Lt: lambda a, b: a < b,
            ast.LtE: lambda a, b: a <= b,
            ast.Gt: lambda a, b: a > b,
            ast.GtE: lambda a, b: a >= b,
            ast.Eq: lambda a, b: a == b,
            ast.NotEq: lambda a, b: a != b,
        }
        if type(op) not in ops:
            raise ConditionError(f"unsupported comparison {type(op).__name__}")
        return ops[type(op)](left, right)
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, result), _eval(node.right, result)
        if not (_is_number(left) and _is_number(right)):
            raise ConditionError(f"invalid operation on {left!r} and {right!r}")
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div):
            return left / right if right != 0 else (math.copysign(math.inf, left) if left else math.nan)
        raise ConditionError(f"unsupported operator {type(node.op).__name__}")
    if isinstance(node, ast.Subscript):
        seq = _eval(node.value, result)
        index = _eval(node.slice, result)
        if not isinstance(seq, list) or not isinstance(index, int) or isinstance(index, bool):
            raise ConditionError(f"cannot index {seq!r} with {index!r}")
        if not -len(seq) <= index < len(seq):
            raise ConditionError(f"index out of range: {index} (array length is {len(seq)})")
        return seq[index]
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCS or node.keywords:
            raise ConditionError(f"unknown function in condition: {ast.dump(node.func)}")
        args = [_eval(a, result) for a in node.args]
        try:
            return _FUNCS[node.func.id](*args)
        except (TypeError, ValueError) as exc:
            raise ConditionError(f"{node.func.id}: {exc}") from None
    if isinstance(node, ast.Name):
        if node.id == "result":
            return result
        if node.id in ("true", "false"):
            return node.id == "true"
        if node.id in ("nil",):
            return None
        raise ConditionError(f"unknown name {node.id!r}")
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool):
        return node.value
    raise ConditionError(f"unsupported syntax: {type(node).__name__}")


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _truth(x: Any) -> bool:
    if not isinstance(x, bool):
        raise ConditionError(f"expected bool, but got {type(x).__name__}")
    return x


def evaluate_condition(condition: str, result: Any) -> bool:
    """Evaluate one condition on ``result``; ConditionError when Argo would report an error."""
    try:
        tree = ast.parse(_to_python(condition), mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"cannot parse condition {condition!r}: {exc.msg}") from None
    value = _eval(tree, result)
    if not isinstance(value, bool):
        raise ConditionError(f"expected bool, but got {type(value).__name__}")
    return value


def evaluate_result(result: Any, success: str | None, failure: str | None) -> tuple[str, str]:
    """(phase, message) of one measurement, as utils/evaluate.EvaluateResult."""
    try:
        ok = evaluate_condition(success, result) if success else False
        bad = evaluate_condition(failure, result) if failure else False
    except ConditionError as exc:
        return ERROR, str(exc)
    if not success and not failure:
        return SUCCESSFUL, ""
    if success and not failure:
        bad = not ok
    elif failure and not success:
        ok = not bad
    if bad:
        return FAILED, ""
    if not ok:
        return INCONCLUSIVE, ""
    return SUCCESSFUL, ""


# --------------------------------------------------------------------------------------------------
# Prometheus
# --------------------------------------------------------------------------------------------------
def query_prometheus(address: str, query: str, timeout: float = 30.0, at: float | None = None) -> Any:
    """``result`` as Argo's Prometheus provider builds it: list of values (vector/matrix) or a float
    (scalar). ``at``: evaluate at that Unix time (simulated time) instead of now. Raises ConditionError
    (a measurement Error) on any failure."""
    params = {"query": query} if at is None else {"query": query, "time": f"{at:.3f}"}
    url = f"{address.rstrip('/')}/api/v1/query?{urllib.parse.urlencode(params)}"
    if not url.startswith(("http://", "https://")):
        raise ConditionError(f"prometheus address is not an http(s) URL: {address!r}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - http(s) checked above
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read() or b"{}").get("error", "")
        except ValueError:
            detail = ""
        raise ConditionError(f"prometheus answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ConditionError(f"prometheus query failed: {exc}") from None
    if body.get("status") != "success":
        raise ConditionError(f"prometheus error: {body.get('errorType')}: {body.get('error')}")
    data = body["data"]
    kind = data.get("resultType")
    if kind == "scalar":
        return float(data["result"][1])
    if kind == "vector":
        return [float(s["value"][1]) for s in data["result"]]
    if kind == "matrix":
        return [float(v[1]) for s in data["result"] for v in s["values"]]
    raise ConditionError("Prometheus metric type not supported")


# --------------------------------------------------------------------------------------------------
# Measurements and assessment
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Measurement:
    metric: str
    index: int
    at: float  # seconds since the run started
    value: Any  # the ``result`` the conditions saw (None on a query error)
    phase: str
    message: str = ""


@dataclass
class MetricState:
    name: str
    spec: Mapping[str, Any]
    measurements: list[Measurement] = field(default_factory=list)
    phase: str = RUNNING
    message: str = ""
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0
    consecutive_error: int = 0

    @property
    def count(self) -> int:
        return self.successful + self.failed + self.inconclusive

    def record(self, m: Measurement) -> None:
        self.measurements.append(m)
        if m.phase == SUCCESSFUL:
            self.successful += 1
            self.consecutive_error = 0
        elif m.phase == FAILED:
            self.failed += 1
            self.consecutive_error = 0
        elif m.phase == INCONCLUSIVE:
            self.inconclusive += 1
            self.consecutive_error = 0
        else:
            self.error += 1
            self.consecutive_error += 1
        self.phase, self.message = assess(self)


def _limit(spec: Mapping[str, Any], key: str, default: int) -> int:
    value = spec.get(key, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AnalysisError(
            f"metric {spec.get('name')!r}: {key} = {value!r} is invalid; accepted: an integer"
        ) from None


def assess(state: MetricState) -> tuple[str, str]:
    """The metric's phase after its latest measurement (analysis.assessMetricStatus)."""
    spec = state.spec
    failure_limit = _limit(spec, "failureLimit", 0)
    inconclusive_limit = _limit(spec, "inconclusiveLimit", 0)
    error_limit = _limit(spec, "consecutiveErrorLimit", DEFAULT_CONSECUTIVE_ERROR_LIMIT)
    phase, message = "", ""
    if failure_limit >= 0 and state.failed > failure_limit:
        phase, message = FAILED, f"failed ({state.failed}) > failureLimit ({failure_limit})"
    if state.inconclusive > inconclusive_limit:
        phase, message = INCONCLUSIVE, f"inconclusive ({state.inconclusive}) > inconclusiveLimit ({inconclusive_limit})"
    if state.consecutive_error > error_limit:
        phase, message = ERROR, f"consecutiveErrors ({state.consecutive_error}) > consecutiveErrorLimit ({error_limit})"
    if phase:
        return phase, message
    count = effective_count(spec)
    if count is not None and state.count >= count:
        return SUCCESSFUL, f"count ({count}) reached"
    return RUNNING, ""


def effective_count(spec: Mapping[str, Any]) -> int | None:
    count = _limit(spec, "count", 0)
    if count == 0:
        return 1 if not spec.get("interval") else None
    return count


_WORST = [SUCCESSFUL, RUNNING, INCONCLUSIVE, ERROR, FAILED]


@dataclass(frozen=True)
class AnalysisOutcome:
    phase: str  # Successful, Failed, Error, Inconclusive, or Running (stopped before completion)
    message: str
    metrics: dict[str, list[Measurement]]
    metric_phases: dict[str, str]
    started: float  # time.monotonic() at the run's start
    decided_at: float | None  # seconds from the start to the deciding measurement (None: not decided)

    @property
    def would_abort(self) -> bool:
        return self.phase in (FAILED, ERROR)

    @property
    def would_pause(self) -> bool:
        return self.phase == INCONCLUSIVE

    def measurements(self) -> list[Measurement]:
        return sorted((m for ms in self.metrics.values() for m in ms), key=lambda m: (m.at, m.metric))

    def summary(self) -> str:
        lines = [f"analysis {self.phase}" + (f": {self.message}" if self.message else "")]
        for m in self.measurements():
            lines.append(
                f"  t={m.at:6.1f}s {m.metric:<14} #{m.index} {m.phase:<12} value={m.value!r}"
                + (f" ({m.message})" if m.message else "")
            )
        return "\n".join(lines)


def prepare_metrics(template: Mapping[str, Any], args: Mapping[str, str]) -> list[dict[str, Any]]:
    """The template's metrics after argument substitution (AnalysisTemplate object or its spec)."""
    spec = template.get("spec", template)
    resolved = resolve_args(spec.get("args") or [], args)
    metrics = []
    for i, metric in enumerate(spec.get("metrics") or []):
        if "prometheus" not in (metric.get("provider") or {}):
            raise AnalysisError(
                f"metrics[{i}] ({metric.get('name')!r}): provider is not prometheus; accepted: provider.prometheus"
            )
        metrics.append(substitute(dict(metric), resolved))
    if not metrics:
        raise AnalysisError("spec.metrics is empty; accepted: at least one metric")
    return metrics


def run_analysis(
    template: Mapping[str, Any],
    args: Mapping[str, str],
    *,
    address: str | None = None,
    interval_override: float | None = None,
    max_measurements: int | None = None,
    query: Callable[[str, str], Any] = query_prometheus,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_measurement: Callable[[Measurement], None] | None = None,
) -> AnalysisOutcome:
    """Measure every metric of ``template`` until the run completes as Argo would.

    ``address`` replaces the template's Prometheus address (the in-cluster name is unreachable from a
    test); the query itself is used exactly as written after substitution. ``interval_override``
    measures faster than ``interval`` (the phase logic is unchanged). ``max_measurements`` stops an
    unbounded (count-less) metric: the outcome is then Running unless something decided earlier.
    """
    metrics = prepare_metrics(template, args)
    states = [MetricState(m["name"], m) for m in metrics]
    started = clock()
    decided_at: float | None = None
    rounds = 0
    # initialDelay: Argo takes a metric's first measurement only after it (the template's metrics share one)
    initial_delay = max(go_duration_seconds(m.get("initialDelay") or "0s") for m in metrics)
    if initial_delay:
        sleep(initial_delay)
    while True:
        active = [s for s in states if s.phase == RUNNING]
        if not active or any(s.phase in (FAILED, ERROR, INCONCLUSIVE) for s in states):
            break
        if max_measurements is not None and rounds >= max_measurements:
            break
        for st in active:
            prom = st.spec["provider"]["prometheus"]
            at = clock() - started
            try:
                value = query(address or prom["address"], prom["query"])
            except ConditionError as exc:
                m = Measurement(st.name, len(st.measurements), at, None, ERROR, str(exc))
            else:
                phase, message = evaluate_result(
                    value, st.spec.get("successCondition"), st.spec.get("failureCondition")
                )
                m = Measurement(st.name, len(st.measurements), at, value, phase, message)
            st.record(m)
            if on_measurement:
                on_measurement(m)
            if st.phase != RUNNING and decided_at is None and st.phase != SUCCESSFUL:
                decided_at = m.at
        rounds += 1
        if any(s.phase in (FAILED, ERROR, INCONCLUSIVE) for s in states) or all(s.phase != RUNNING for s in states):
            break
        if max_measurements is not None and rounds >= max_measurements:
            break
        pause = (
            interval_override
            if interval_override is not None
            else min(go_duration_seconds(s.spec.get("interval") or "0s") for s in states if s.phase == RUNNING)
        )
        sleep(pause)
    phases = {s.name: s.phase for s in states}
    worst = max(phases.values(), key=_WORST.index)
    message = next(
        (f"Metric {s.name!r} assessed {s.phase} due to {s.message}" for s in states if s.phase == worst and s.message),
        "",
    )
    if worst == SUCCESSFUL:
        decided_at = max(s.measurements[-1].at for s in states if s.measurements)
    return AnalysisOutcome(worst, message, {s.name: list(s.measurements) for s in states}, phases, started, decided_at)
