"""Argo's analysis semantics in tests/canary/analysis_eval.py, on given query results.

The real-data counterpart (real Prometheus, real app) is test_analysis_real.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from components.canary import specs
from tests.canary import analysis_eval as ae

SUCCESS, FAILURE = specs.conditions(0.05)


@pytest.mark.parametrize(
    ("result", "phase"),
    [
        ([], ae.INCONCLUSIVE),  # no data (idle, unscraped, under min_requests): fail closed, a human decides
        ([0.0], ae.SUCCESSFUL),
        ([0.049], ae.SUCCESSFUL),
        ([0.05], ae.FAILED),
        ([0.1], ae.FAILED),
        ([0.2, 0.0], ae.FAILED),  # result[0] is what counts
        ([math.nan], ae.INCONCLUSIVE),  # 0/0: no request in the window
    ],
)
def test_builder_conditions_on_a_vector(result: list[float], phase: str) -> None:
    assert ae.evaluate_result(result, SUCCESS, FAILURE) == (phase, "")


@pytest.mark.parametrize(
    ("result", "phase"),
    [([], ae.INCONCLUSIVE), ([math.nan], ae.INCONCLUSIVE), ([9.0], ae.INCONCLUSIVE), ([10.0], ae.SUCCESSFUL)],
)
def test_traffic_conditions_never_pass_below_min_requests(result: list[float], phase: str) -> None:
    assert ae.evaluate_result(result, *specs.traffic_conditions(10)) == (phase, "")


def test_initial_delay_postpones_the_first_measurement_and_count_may_be_an_argument() -> None:
    script = Script([[0.0]] * 3)
    sleeps: list[float] = []
    template = {
        "spec": {
            "args": [{"name": "canary-hash"}, {"name": "measurements", "value": "9"}],
            "metrics": [_metric(initialDelay="1m", count="{{args.measurements}}")],
        }
    }
    outcome = ae.run_analysis(
        template,
        {"canary-hash": "abc", "measurements": "3"},
        query=script,
        sleep=sleeps.append,
        clock=lambda: sum(sleeps),
    )
    assert outcome.phase == ae.SUCCESSFUL
    assert [m.at for m in outcome.metrics["error-ratio"]] == [60.0, 90.0, 120.0]


def test_argo_outcome_rules_for_condition_combinations() -> None:
    # only a success condition: not success is a failure
    assert ae.evaluate_result([0.2], "result[0] < 0.05", None)[0] == ae.FAILED
    assert ae.evaluate_result([0.01], "result[0] < 0.05", None)[0] == ae.SUCCESSFUL
    # only a failure condition: not failure is a success
    assert ae.evaluate_result([0.01], None, "result[0] >= 0.05")[0] == ae.SUCCESSFUL
    # both, neither true: inconclusive (NaN compares false both ways, as in Go)
    assert ae.evaluate_result([math.nan], "result[0] < 0.05", "result[0] >= 0.05")[0] == ae.INCONCLUSIVE
    # none: always successful
    assert ae.evaluate_result([1.0], None, None)[0] == ae.SUCCESSFUL
    # an empty vector indexed without a guard: the measurement errors, like expr's index out of range
    phase, message = ae.evaluate_result([], "result[0] < 0.05", None)
    assert phase == ae.ERROR and "index out of range" in message
    # a scalar result is a number, not a vector
    assert ae.evaluate_result(0.01, "result < 0.05", None)[0] == ae.SUCCESSFUL
    assert ae.evaluate_result(0.01, "result[0] < 0.05", None)[0] == ae.ERROR


@pytest.mark.parametrize(
    ("condition", "result", "expected"),
    [
        ("len(result) == 0 || result[0] < 0.05", [], True),  # short-circuit: result[0] never evaluated
        ("len(result) > 0 && result[0] >= 0.05", [], False),
        ("!isNaN(result[0]) and result[0] != 1", [0.5], True),
        ("not (result[0] > 2)", [3.0], False),
        ("asFloat(result[0]) * 100 <= 5", [0.05], True),
        ("asInt(result[0]) == 3", [3.9], True),
        ("isInf(result[0])", [math.inf], True),
        ("result[-1] == 2", [1.0, 2.0], True),
    ],
)
def test_condition_language(condition: str, result: Any, expected: bool) -> None:
    assert ae.evaluate_condition(condition, result) is expected


@pytest.mark.parametrize(
    "condition", ["result[0]", "1 < result[0] < 2", "foo(result)", "result.x > 1", "import os", "result[0] <"]
)
def test_unsupported_or_non_boolean_conditions_are_errors(condition: str) -> None:
    with pytest.raises(ae.ConditionError):
        ae.evaluate_condition(condition, [1.5])


def _metric(name: str = "error-ratio", **extra: Any) -> dict[str, Any]:
    metric = {
        "name": name,
        "interval": "30s",
        "successCondition": SUCCESS,
        "failureCondition": FAILURE,
        "provider": {
            "prometheus": {
                "address": "http://prometheus.monitoring.svc:9090",
                "query": 'max(x{hash="{{args.canary-hash}}"})',
            }
        },
    }
    metric.update(extra)
    return metric


def _template(*metrics: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"args": [{"name": "canary-hash"}], "metrics": list(metrics)}}


class Script:
    """A query function returning scripted results (a ConditionError instance raises) and recording calls."""

    def __init__(self, results: Sequence[Any]) -> None:
        self.results: Iterator[Any] = iter(results)
        self.calls: list[tuple[str, str]] = []

    def __call__(self, address: str, query: str) -> Any:
        self.calls.append((address, query))
        value = next(self.results)
        if isinstance(value, Exception):
            raise value
        return value


def _run(results: Sequence[Any], **metric: Any) -> tuple[ae.AnalysisOutcome, Script]:
    script = Script(results)
    sleeps: list[float] = []
    outcome = ae.run_analysis(
        _template(_metric(**metric)),
        {"canary-hash": "abc"},
        query=script,
        sleep=sleeps.append,
        clock=lambda: 30.0 * len(sleeps),
    )
    assert all(s == 30.0 for s in sleeps)  # measured one interval apart
    return outcome, script


def test_failure_limit_is_exceeded_by_one_more_failure() -> None:
    outcome, script = _run([[0.0], [0.2], [0.01], [0.3], [0.0]], failureLimit=1, count=10)
    assert outcome.phase == ae.FAILED and outcome.would_abort
    assert [m.phase for m in outcome.metrics["error-ratio"]] == [ae.SUCCESSFUL, ae.FAILED, ae.SUCCESSFUL, ae.FAILED]
    assert outcome.message.endswith("failed (2) > failureLimit (1)")
    assert outcome.decided_at == 90.0
    # the query as written, arguments substituted, against the template's address
    assert script.calls[0] == ("http://prometheus.monitoring.svc:9090", 'max(x{hash="abc"})')


def test_count_reached_without_exceeding_the_limit_is_successful() -> None:
    outcome, _ = _run([[0.0], [0.2], [0.01]], failureLimit=1, count=3)
    assert outcome.phase == ae.SUCCESSFUL and not outcome.would_abort
    assert len(outcome.metrics["error-ratio"]) == 3


def test_consecutive_errors_beyond_the_limit_abort_and_errors_do_not_count() -> None:
    boom = ae.ConditionError("prometheus query failed: connection refused")
    outcome, _ = _run([boom, boom, [0.0], boom, boom, boom, boom, boom], count=3)
    assert outcome.phase == ae.ERROR and outcome.would_abort
    assert "consecutiveErrors (5) > consecutiveErrorLimit (4)" in outcome.message
    phases = [m.phase for m in outcome.metrics["error-ratio"]]
    assert phases == [ae.ERROR, ae.ERROR, ae.SUCCESSFUL, ae.ERROR, ae.ERROR, ae.ERROR, ae.ERROR, ae.ERROR]


def test_inconclusive_pauses_instead_of_aborting() -> None:
    outcome, _ = _run(
        [[0.0], [math.nan]], successCondition="result[0] < 0.05", failureCondition="result[0] >= 0.05", count=5
    )
    assert outcome.phase == ae.INCONCLUSIVE and outcome.would_pause and not outcome.would_abort


def test_unbounded_metric_stops_at_max_measurements_still_running() -> None:
    script = Script([[0.0]] * 4)
    outcome = ae.run_analysis(
        _template(_metric()), {"canary-hash": "abc"}, query=script, sleep=lambda s: None, max_measurements=4
    )
    assert outcome.phase == ae.RUNNING and not outcome.would_abort
    assert len(outcome.metrics["error-ratio"]) == 4


def test_a_failed_metric_terminates_the_run_for_every_metric() -> None:
    script = Script([[0.0], [0.1], [0.3], [0.1], [0.2], [0.1]])  # alternating: error-ratio, latency
    template = _template(
        _metric("error-ratio", failureLimit=0, count=5),
        _metric("latency", count=5, successCondition="result[0] < 0.5", failureCondition=None),
    )
    outcome = ae.run_analysis(template, {"canary-hash": "abc"}, query=script, sleep=lambda s: None)
    assert outcome.phase == ae.FAILED
    assert outcome.metric_phases == {"error-ratio": ae.FAILED, "latency": ae.RUNNING}
    assert len(script.calls) == 4


def test_arguments_defaults_overrides_and_missing_values() -> None:
    args = [{"name": "namespace", "value": "web"}, {"name": "canary-hash"}]
    assert ae.resolve_args(args, {"canary-hash": "x"}) == {"namespace": "web", "canary-hash": "x"}
    assert ae.resolve_args(args, {"canary-hash": "x", "namespace": "shop"})["namespace"] == "shop"
    with pytest.raises(ae.AnalysisError, match=r"\['canary-hash'\] have no value"):
        ae.resolve_args(args, {})
    with pytest.raises(ae.AnalysisError, match="not declared"):
        ae.resolve_args(args, {"canary-hash": "x", "bogus": "y"})
    with pytest.raises(ae.AnalysisError, match=r"args\.other"):
        ae.substitute("{{args.other}}", {"canary-hash": "x"})


def test_rendered_template_substitutes_every_argument() -> None:
    inp = specs.DeliveryInput(app="orders-api", namespace="web")
    metrics = ae.prepare_metrics(specs.analysis_template(inp), {specs.ARG_CANARY_HASH: "5b8c7d"})
    for m in metrics:
        q = m["provider"]["prometheus"]["query"]
        assert 'namespace="web"' in q and 'app="orders-api"' in q and 'rollouts_pod_template_hash="5b8c7d"' in q
        assert "{{" not in q


def test_go_durations() -> None:
    assert ae.go_duration_seconds("30s") == 30
    assert ae.go_duration_seconds("1m30s") == 90
    assert ae.go_duration_seconds("500ms") == 0.5
    with pytest.raises(ae.AnalysisError, match="interval"):
        ae.go_duration_seconds("1d")
