"""A canary rollout in simulated time, on the real Prometheus engine.

- ``Scenario`` describes the canary (error ratio from some step on, latency, traffic, scraped or not).
- ``series`` turns it into the raw series Prometheus would have scraped from the canary pod: the app's
  request counter (one series per status, created at its first request, as prometheus_client does) and
  duration histogram, one sample per scrape interval, the canary's share of requests following the
  rendered Rollout's steps. An unscraped canary's series lack the ``rollouts_pod_template_hash`` label
  (what a lost relabel rule leaves), so the canary's own selector sees nothing.
- ``Backfill`` writes every scenario as OpenMetrics, turns it into TSDB blocks with
  ``promtool tsdb create-blocks-from openmetrics`` and serves them from a real Prometheus on loopback.
- ``simulate`` runs the rendered AnalysisTemplate with Argo's semantics (``analysis_eval``), each
  measurement a query at its simulated instant, against the Rollout's steps: the outcome is an abort
  (failed run, at the deciding measurement + the controllers' reaction), a pause for a human
  (inconclusive run) or a promotion (the last pause ended first).

Everything is deterministic: fixed rates, fixed scrape offsets, integer counters.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components import conventions as cv
from components.canary import specs
from tests.canary import analysis_eval as ae
from tests.monitoring.promsupport import PROMTOOL, Prometheus, run_tool

EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z: simulated t = 0 is the canary's creation
REQUESTS_PER_SECOND = 20.0  # the service's whole traffic; the canary gets its weight's share
ROUTE = "/orders"

ABORTED, PAUSED, PROMOTED = "aborted", "paused", "promoted"


@dataclass(frozen=True)
class Scenario:
    name: str
    error_ratio: float = 0.0
    errors_from_step: int = 0  # the breakage starts with this step (0: with the canary)
    latency_seconds: float = 0.04
    traffic: bool = True  # False: the canary is scraped but serves no request after a smoke test
    scraped: bool = True  # False: its series lose the hash label (relabeling renamed it)
    stable: bool = False  # True: the stable ReplicaSet's pods (the share the canary does not get)


@dataclass(frozen=True)
class Plan:
    """The Rollout's steps as (weight, start, end) in seconds, and when it is promoted."""

    steps: tuple[tuple[int, float, float], ...]

    @property
    def promotion(self) -> float:
        return self.steps[-1][2]

    def step_start(self, index: int) -> float:
        return self.steps[index][1]

    def weight_at(self, t: float) -> float:
        for weight, start, end in self.steps:
            if start <= t < end:
                return weight / 100
        return 1.0 if t >= self.promotion else 0.0


def plan(strategy: Mapping[str, Any]) -> Plan:
    """The timeline of a rendered ``spec.strategy`` (canary steps, or blue/green's single pause at 100 %)."""
    if "blueGreen" in strategy:
        bg = strategy["blueGreen"]
        return Plan(((100, 0.0, float(bg["autoPromotionSeconds"])),))
    out: list[tuple[int, float, float]] = []
    t, weight = 0.0, 0
    for step in strategy["canary"]["steps"]:
        if "setWeight" in step:
            weight = step["setWeight"]
        elif "pause" in step:
            seconds = ae.go_duration_seconds(step["pause"]["duration"])
            out.append((weight, t, t + seconds))
            t += seconds
    return Plan(tuple(out))


def _labels(labels: Mapping[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in labels.items())


def series(
    scenario: Scenario, p: Plan, *, canary_hash: str, namespace: str, app: str, scrape: float, until: float
) -> list[str]:
    """OpenMetrics lines (without ``# TYPE`` headers) of the canary pod, one sample per scrape."""
    base = {"namespace": namespace, cv.LABEL_APP: app}
    if scenario.scraped:
        base[cv.ROLLOUTS_HASH_SERIES_LABEL] = canary_hash
    else:
        base["pod_template_hash"] = canary_hash  # the wrong name: the selector cannot find the canary
    broken_from = p.step_start(scenario.errors_from_step) if scenario.error_ratio else math.inf
    buckets = [*cv.DURATION_BUCKETS, math.inf]
    offset = scrape / 3  # the pod's first scrape comes a third of an interval after its creation
    times = [offset + k * scrape for k in range(int((until - offset) // scrape) + 1)]
    ok = err = 0.0
    requests: dict[str, list[tuple[float, int]]] = {"200": [], "500": []}
    hist: list[tuple[float, int, float]] = []
    step = 1.0  # integrate the request rate second by second
    t = 0.0
    for ts in times:
        while t < ts:
            share_of_traffic = 1 - p.weight_at(t) if scenario.stable else p.weight_at(t)
            rate = REQUESTS_PER_SECOND * share_of_traffic if scenario.traffic else 0.0
            share = scenario.error_ratio if t >= broken_from else 0.0
            ok += rate * step * (1 - share)
            err += rate * step * share
            t += step
        smoke = 0 if scenario.traffic else 3  # an idle canary still answered a smoke test at start
        n_ok, n_err = int(ok) + smoke, int(err)
        for status, n in (("200", n_ok), ("500", n_err)):
            if n > 0:  # a labelled child exists from its first request on
                requests[status].append((ts, n))
        total = n_ok + n_err
        if total > 0:
            hist.append((ts, total, total * scenario.latency_seconds))
    lines: list[str] = []
    for status, points in requests.items():
        labels = _labels({**base, "method": "GET", "route": ROUTE, "status": status})
        lines += [f"{cv.METRIC_REQUESTS}{{{labels}}} {n} {EPOCH + ts:.3f}" for ts, n in points]
    hist_lines: list[str] = []
    hlabels = {**base, "method": "GET", "route": ROUTE}
    for ts, total, total_seconds in hist:
        stamp = f"{EPOCH + ts:.3f}"
        for le in buckets:
            count = total if scenario.latency_seconds <= le else 0
            le_text = "+Inf" if math.isinf(le) else f"{le:g}"
            hist_lines.append(f"{cv.METRIC_DURATION}_bucket{{{_labels({**hlabels, 'le': le_text})}}} {count} {stamp}")
        hist_lines.append(f"{cv.METRIC_DURATION}_count{{{_labels(hlabels)}}} {total} {stamp}")
        hist_lines.append(f"{cv.METRIC_DURATION}_sum{{{_labels(hlabels)}}} {total_seconds:.6f} {stamp}")
    return [*lines, "\x00", *hist_lines]  # "\x00" separates the two families


class Backfill:
    """Scenarios' series as TSDB blocks (promtool) served by a real Prometheus on loopback."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.counters: list[str] = []
        self.histograms: list[str] = []
        self.prom: Prometheus | None = None

    def add(self, lines: Sequence[str]) -> None:
        cut = list(lines).index("\x00")
        self.counters += lines[:cut]
        self.histograms += lines[cut + 1 :]

    def __enter__(self) -> Backfill:
        counter_family = cv.METRIC_REQUESTS.removesuffix("_total")
        text = "\n".join(
            [
                f"# TYPE {counter_family} counter",
                *self.counters,
                f"# TYPE {cv.METRIC_DURATION} histogram",
                *self.histograms,
                "# EOF",
                "",
            ]
        )
        source = self.tmp / "series.om"
        source.write_text(text)
        tsdb = self.tmp / "tsdb"
        made = run_tool([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(source), str(tsdb)])
        assert made.returncode == 0, made.stdout + made.stderr
        self.prom = Prometheus({"global": {"scrape_interval": "15s"}, "scrape_configs": []}, self.tmp)
        self.prom.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.prom:
            self.prom.__exit__(*exc)

    @property
    def url(self) -> str:
        assert self.prom is not None
        return self.prom.url


class _Promoted(Exception):
    pass


@dataclass(frozen=True)
class Result:
    outcome: str  # aborted | paused | promoted
    at: float | None  # aborted/paused: the deciding measurement + controller reaction; promoted: promotion
    decided_at: float | None  # the deciding measurement (simulated seconds since the canary started)
    promotion: float
    summary: str


def simulate(
    template: Mapping[str, Any],
    p: Plan,
    *,
    url: str,
    canary_hash: str,
    measurements: int | None = None,
    reaction: float = specs.CONTROLLER_REACTION_SECONDS,
    start: float = 0.0,
    stop_at_promotion: bool = True,
) -> Result:
    """The analysis against the plan: measurements at their simulated instants, until decided or promoted.

    ``start``: when the run begins (a post-promotion run starts at the switch); times in the result are
    absolute. ``stop_at_promotion=False``: the run is not cut short by the plan (blue/green waits for its
    pre-promotion run; a post-promotion run always completes).
    """
    now = [start]

    def clock() -> float:
        return now[0]

    def sleep(seconds: float) -> None:
        now[0] += seconds
        if stop_at_promotion and now[0] >= p.promotion:  # the last pause ended: Argo promotes, ends the run
            raise _Promoted

    def query(address: str, expr: str) -> Any:
        return ae.query_prometheus(address, expr, at=EPOCH + now[0])

    taken: list[ae.Measurement] = []
    args = {specs.ARG_CANARY_HASH: canary_hash}
    if measurements is not None:
        args[specs.ARG_MEASUREMENTS] = str(measurements)
    try:
        outcome = ae.run_analysis(
            template, args, address=url, query=query, sleep=sleep, clock=clock, on_measurement=taken.append
        )
    except _Promoted:
        lines = "\n".join(f"  t={m.at:6.1f}s {m.metric:<14} {m.phase:<12} value={m.value!r}" for m in taken)
        return Result(PROMOTED, p.promotion, None, p.promotion, f"promoted at {p.promotion:g}s\n{lines}")
    decided = None if outcome.decided_at is None else start + outcome.decided_at
    if outcome.would_abort:
        assert decided is not None
        return Result(ABORTED, decided + reaction, decided, p.promotion, outcome.summary())
    if outcome.would_pause:
        assert decided is not None
        return Result(PAUSED, decided + reaction, decided, p.promotion, outcome.summary())
    # a successful run: promotion follows at the end of the plan, or when the run ends if later
    promoted = max(p.promotion, decided or 0.0) if not stop_at_promotion else p.promotion
    return Result(PROMOTED, promoted, decided, p.promotion, outcome.summary())


def hashes(prefix: str) -> Iterator[str]:
    for i in range(1000):
        yield f"{prefix}{i:04d}"
