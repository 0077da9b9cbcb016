"""Minutes from a change to the first firing alert, in promtool's simulated time, at prod and dev intervals.

Every scenario is a step change at t = 10 min on a service serving 10 req/s (counters sampled at the
scrape interval, like Prometheus would), run through ``promtool test rules`` against the rules the render
deploys: ``service_addons(spec, evaluation_interval=...)`` for the orders API (its SLI contract and SLOs from
``services/orders-api/``) and the platform's ``rule_files()`` (crash loops). The first firing is read from
the ``ALERTS`` series promtool records: ``min_over_time(timestamp(ALERTS{alertstate="firing"})[...])``.

Scenarios: the issue #17 table (errors to 10 %, 6 %, 100 %, P95 to 800 ms, a crash loop), the two that
must stay silent (4.9 % errors, P95 450 ms), and the SLO burns: 49x against the 99.9 % objective (a page,
``ErrorBudgetFastBurn``) and 2x (a ticket, ``ErrorBudgetSlowBurn``; the page must stay silent). The slow
burns play over days, so they are evaluated every 5 minutes (a sample every 2): their answer is in hours.

    python bench/detection.py [--json]        # prints a table; exit 1 when a target is missed

promtool only reports values through failed expectations: the measuring test expects -1 and parses the
``got:`` value of each failure (one per scenario, in order). The pytest side (tests/monitoring/
test_detection.py) instead asserts ``fires by minute N`` / ``silent`` natively with ``bool`` comparisons.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from components import conventions as cv  # noqa: E402
from components.monitoring import rules as platform_rules  # noqa: E402
from components.monitoring.service import service_rule_group  # noqa: E402
from components.service.load import load_services  # noqa: E402
from components.service.spec import ServiceSpec  # noqa: E402
from tools.cli import EXIT_FAILED, EXIT_OK, Parser, add_json, run  # noqa: E402

PROMTOOL = "promtool"
RUNBOOKS = platform_rules.DEFAULT_RUNBOOK_BASE_URL
CHANGE_AT = 600  # seconds: the change comes at t = 10 min
RPS = 10.0
SLOW_INPUT = 120  # the slow-burn scenarios (days of history): a sample every 2 minutes, evaluated every 5
SLOW_EVAL = 300
INTERVALS = {"prod": 15, "dev": 30}
GO_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # promhttp / client_golang defaults
Series = list[dict[str, str]]


@dataclass(frozen=True)
class Scenario:
    name: str
    alert: str
    series: Callable[[ServiceSpec, int, int, int], Series]  # (spec, interval s, history s, after s) -> input
    after: int  # seconds simulated after the change
    target_minutes: float | None  # fires at most this long after the change; None: must stay silent
    slow: bool = False
    history: int = CHANGE_AT  # healthy seconds before the change (SLO scenarios: at least the long window)


def _fmt(x: float) -> str:
    return f"{x:.10g}"


def counter(interval: int, per_second_before: float, per_second_after: float, history: int, after: int) -> str:
    """promtool values of a counter: ``per_second_before`` for ``history`` seconds, then ``per_second_after``."""
    n_before = history // interval
    n_after = after // interval
    a, b = per_second_before * interval, per_second_after * interval
    return f"0+{_fmt(a)}x{n_before} {_fmt(a * n_before + b)}+{_fmt(b)}x{n_after - 1}"


def _labels(spec: ServiceSpec, **extra: str) -> str:
    base = {
        "job": "kubernetes-pods",
        "namespace": spec.namespace,
        "service": spec.name,
        "pod": f"{spec.name}-abc123-x1",
        cv.ROLLOUTS_HASH_SERIES_LABEL: "abc123",
        spec.sli.route_label: "/orders",
        **extra,
    }
    return ", ".join(f'{k}="{v}"' for k, v in base.items())


def errors(share: float) -> Callable[[ServiceSpec, int, int, int], Series]:
    def build(spec: ServiceSpec, interval: int, history: int, after: int) -> Series:
        s = spec.sli.status_label
        return [
            {
                "series": f"{spec.sli.requests}{{{_labels(spec, **{s: '200'})}}}",
                "values": counter(interval, RPS, RPS * (1 - share), history, after),
            },
            {
                "series": f"{spec.sli.requests}{{{_labels(spec, **{s: '500'})}}}",
                "values": counter(interval, 0, RPS * share, history, after),
            },
        ]

    return build


def latency(slow_share: float, slow_seconds: float, buckets: Sequence[float] | None = None) -> Callable[..., Series]:
    """Every request takes 0.1 s until the change; then ``slow_share`` of them take ``slow_seconds``."""

    def build(spec: ServiceSpec, interval: int, history: int, after: int) -> Series:
        s = spec.sli.status_label
        bounds = buckets or (GO_BUCKETS if spec.sli.status_label == "code" else cv.DURATION_BUCKETS)
        out: Series = []
        for le in (*bounds, float("inf")):
            fast_before = RPS if le >= 0.1 else 0.0
            after_rate = (RPS * (1 - slow_share) if le >= 0.1 else 0.0) + (
                RPS * slow_share if le >= slow_seconds else 0.0
            )
            le_text = "+Inf" if le == float("inf") else _fmt(le)
            out.append(
                {
                    "series": f"{spec.sli.buckets}{{{_labels(spec, **{s: '200', 'le': le_text})}}}",
                    "values": counter(interval, fast_before, after_rate, history, after),
                }
            )
        out.append(
            {
                "series": f"{spec.sli.duration_histogram}_count{{{_labels(spec, **{s: '200'})}}}",
                "values": counter(interval, RPS, RPS, history, after),
            }
        )
        return out

    return build


def crash_loop(spec: ServiceSpec, interval: int, history: int, after: int) -> Series:
    """kube-state-metrics of a container that starts crash looping after ``history``: it waits in
    CrashLoopBackOff for 10 s, 20 s, 40 s, 80 s, 160 s, 300 s... (the kubelet's back-off), runs 5 s and crashes
    again, one restart each time."""
    t, backoff, restarts = float(history), 10.0, 0
    events: list[tuple[float, float, int]] = []  # (waiting from, waiting until, restarts while waiting)
    while t < history + after:
        restarts += 1
        events.append((t, t + backoff, restarts))
        t += backoff + 5
        backoff = min(backoff * 2, 300.0)
    n = (history + after) // interval
    waiting, count = [], []
    for i in range(n + 1):
        now = i * interval
        current = [e for e in events if e[0] <= now]
        count.append(str(current[-1][2] if current else 0))
        waiting.append("1" if any(start <= now < end for start, end, _ in events) else "0")
    ksm = f'job="kube-state-metrics", namespace="{spec.namespace}", pod="{spec.name}-abc123-x1", container="app"'
    return [
        {"series": f"kube_pod_container_status_restarts_total{{{ksm}}}", "values": " ".join(count)},
        {
            "series": f'kube_pod_container_status_waiting_reason{{{ksm}, reason="CrashLoopBackOff"}}',
            "values": " ".join(waiting),
        },
    ]


def scenarios() -> list[Scenario]:
    h, d = 3600, 86400
    return [
        Scenario("errors 0 % -> 10 %", "HighErrorRatio", errors(0.10), 1800, 2),
        Scenario("errors 0 % -> 6 %", "HighErrorRatio", errors(0.06), 1800, 3),
        Scenario("errors 0 % -> 100 %", "HighErrorRatio", errors(1.0), 1800, 2),
        Scenario("errors 0 % -> 4.9 %", "HighErrorRatio", errors(0.049), 1800, None),
        Scenario("P95 100 ms -> 800 ms", "HighLatencyP95", latency(0.10, 0.8), 1800, 3),
        Scenario("P95 100 ms -> 450 ms", "HighLatencyP95", latency(0.10, 0.45), 1800, None),
        Scenario("container enters CrashLoopBackOff", "KubePodCrashLooping", crash_loop, 1800, 3),
        # SLO burns start after a healthy history as long as the longest burn window they read.
        Scenario(
            "49x burn of 99.9 % (4.9 % errors): page", "ErrorBudgetFastBurn", errors(0.049), 2 * h, 60, False, 6 * h
        ),
        Scenario(
            "2x burn of 99.9 % (0.2 % errors): no page", "ErrorBudgetFastBurn", errors(0.002), 2 * d, None, True, 3 * d
        ),
        Scenario(
            "2x burn of 99.9 % (0.2 % errors): ticket",
            "ErrorBudgetSlowBurn",
            errors(0.002),
            2 * d,
            48 * 60,
            True,
            3 * d,
        ),
    ]


def orders_api() -> ServiceSpec:
    return load_services({"orders-api": {}})[0]


def rule_files(spec: ServiceSpec, evaluation_interval: str) -> dict[str, dict[str, Any]]:
    """The deployed rules these scenarios exercise: the service's group and the Kubernetes alerts."""
    platform = platform_rules.rule_files(runbook_base_url=RUNBOOKS)
    files = {"kubernetes-alerts.yaml": platform["kubernetes-alerts.yaml"]}
    files["service.yaml"] = {
        "groups": [service_rule_group(spec, runbook_base_url=RUNBOOKS, evaluation_interval=evaluation_interval)]
    }
    return files


def _first_firing(alert: str, spec: ServiceSpec, horizon: int, step: int) -> str:
    sel = f'alertname="{alert}", alertstate="firing", namespace="{spec.namespace}"'
    return f"min(min_over_time(timestamp(ALERTS{{{sel}}})[{horizon}s:{step}s]))"


def test_file(
    spec: ServiceSpec, chosen: Sequence[Scenario], interval: int, rule_file_names: Sequence[str], *, measure: bool
) -> dict[str, Any]:
    """A promtool unit-test file: ``measure`` expects -1 (every scenario fails, reporting its value); otherwise
    each scenario asserts natively that it fires within its target (or never)."""
    tests: list[dict[str, Any]] = []
    for sc in chosen:
        step, evaluation = (SLOW_INPUT, SLOW_EVAL) if sc.slow else (interval, interval)
        horizon = sc.history + sc.after
        first = _first_firing(sc.alert, spec, horizon, evaluation)
        if measure:
            check = {"expr": first, "eval_time": f"{horizon}s", "exp_samples": [{"labels": "{}", "value": -1}]}
        elif sc.target_minutes is None:
            check = {"expr": first, "eval_time": f"{horizon}s", "exp_samples": []}
        else:
            check = {
                "expr": f"({first} - {sc.history}) / 60 <= bool {_fmt(sc.target_minutes)}",
                "eval_time": f"{horizon}s",
                "exp_samples": [{"labels": "{}", "value": 1}],
            }
        series = sc.series(spec, step, sc.history, sc.after)
        if tests and tests[-1]["input_series"] == series and tests[-1]["interval"] == f"{step}s":
            tests[-1]["name"] += f" / {sc.name}"  # same input: one simulation, several checks (in order)
            tests[-1]["promql_expr_test"].append(check)
            continue
        tests.append({"name": sc.name, "interval": f"{step}s", "input_series": series, "promql_expr_test": [check]})
    evaluation = SLOW_EVAL if any(sc.slow for sc in chosen) else interval
    return {"rule_files": list(rule_file_names), "evaluation_interval": f"{evaluation}s", "tests": tests}


def run_promtool(
    spec: ServiceSpec, chosen: Sequence[Scenario], interval: int, *, measure: bool
) -> subprocess.CompletedProcess[str]:
    """Write the rules and the test file to a temporary directory and run ``promtool test rules`` there."""
    groups: dict[bool, list[Scenario]] = {}
    for sc in chosen:
        groups.setdefault(sc.slow, []).append(sc)
    outputs = []
    code = 0
    for slow, group in groups.items():
        files = rule_files(spec, f"{SLOW_EVAL if slow else interval}s")
        with tempfile.TemporaryDirectory(prefix="detection-") as tmp:
            for name, content in files.items():
                (Path(tmp) / name).write_text(yaml.safe_dump(content, sort_keys=False))
            test = test_file(spec, group, interval, sorted(files), measure=measure)
            (Path(tmp) / "detection.test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
            result = subprocess.run(
                [PROMTOOL, "test", "rules", "detection.test.yaml"],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
        outputs.append(result.stdout + result.stderr)
        code = code or result.returncode
    return subprocess.CompletedProcess([PROMTOOL], code, "\n".join(outputs), "")


_GOT = re.compile(r"^\s*got:\s*(nil|\{\}\s*(\S+))\s*$", re.M)


def measure(spec: ServiceSpec, interval: int, chosen: Sequence[Scenario] | None = None) -> dict[str, float | None]:
    """Minutes from the change to the first firing of each scenario's alert (None: it never fired)."""
    picked = list(chosen or scenarios())
    out: dict[str, float | None] = {}
    for slow in (False, True):
        group = [s for s in picked if s.slow == slow]
        if not group:
            continue
        result = run_promtool(spec, group, interval, measure=True)
        got = _GOT.findall(result.stdout)
        if len(got) != len(group):
            raise RuntimeError(f"promtool reported {len(got)} values for {len(group)} scenarios:\n{result.stdout}")
        for sc, (whole, value) in zip(group, got, strict=True):
            out[sc.name] = None if whole == "nil" else (float(value) - sc.history) / 60
    return {s.name: out[s.name] for s in picked}


def _verdict(sc: Scenario, minutes: float | None) -> bool:
    if sc.target_minutes is None:
        return minutes is None
    return minutes is not None and minutes <= sc.target_minutes


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="bench/detection.py", description=__doc__.split("\n\n")[0])
    add_json(parser)
    args = parser.parse_args(argv)
    spec = orders_api()
    fast = [s for s in scenarios() if not s.slow]
    slow = measure(spec, SLOW_EVAL, [s for s in scenarios() if s.slow])  # days: the same at either interval
    results = {stack: {**measure(spec, interval, fast), **slow} for stack, interval in INTERVALS.items()}
    ok = all(_verdict(sc, results["prod"][sc.name]) for sc in scenarios())
    if args.json:
        import json

        print(json.dumps({"minutes": results, "prod_targets_met": ok}, indent=2))
    else:
        print(f"{'scenario':58} {'alert':22} {'prod 15s':>9} {'dev 30s':>9}  target (prod)")
        for sc in scenarios():
            cells = [results[s][sc.name] for s in INTERVALS]
            shown = ["silent" if v is None else f"{v:.2f}" for v in cells]
            target = "silent" if sc.target_minutes is None else f"<= {_fmt(sc.target_minutes)} min"
            mark = "ok" if _verdict(sc, cells[0]) else "MISSED"
            print(f"{sc.name:58} {sc.alert:22} {shown[0]:>9} {shown[1]:>9}  {target} {mark}")
        print("every prod target met" if ok else "a prod target was missed")
    return EXIT_OK if ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(run("detection", lambda: main(sys.argv[1:])))
