"""The stacks' rendered AnalysisTemplates and Rollout steps in simulated time (issue #23).

Raw series of each scenario's canary pod are backfilled with promtool into a real Prometheus; the
template is evaluated measurement by measurement at its simulated instant with Argo's rules
(``analysis_eval``), against the step timeline of the rendered Rollout. Each scenario asserts abort,
pause (a human decides) or promotion, and when.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from components.canary import specs
from tests.canary import simulation as sim
from tests.canary.support import stack_delivery

pytestmark = pytest.mark.server

STACKS = ("dev", "prod")
WITH_CANARY_LIMIT_SECONDS = 90  # prod: a canary broken from its start is aborted within 90 s


def _scenarios(stack: str, steps: int) -> list[sim.Scenario]:
    out = [
        sim.Scenario("errors-10pct-from-start", error_ratio=0.10),
        sim.Scenario("p95-800ms", latency_seconds=0.8),
        sim.Scenario("no-traffic", traffic=False),
        sim.Scenario("unscraped", error_ratio=0.10, scraped=False),
        sim.Scenario("errors-4pct", error_ratio=0.04),
        sim.Scenario("healthy"),  # next to a stable version erroring at 10 % (see the fixture)
    ]
    out += [sim.Scenario(f"errors-10pct-from-step-{k}", error_ratio=0.10, errors_from_step=k) for k in range(1, steps)]
    return out


BLUE_GREEN = "prod-blue-green"
PREVIEW_SHARE = 10  # the preview's own traffic before the switch (smoke tests, synthetic): 2 of 20 req/s


def _blue_green_scenarios() -> list[sim.Scenario]:
    return [
        sim.Scenario("bg-idle-preview", traffic=False),
        sim.Scenario("bg-healthy"),
        sim.Scenario("bg-errors-from-start", error_ratio=0.10),
        sim.Scenario("bg-breaks-after-the-switch", error_ratio=0.10, errors_from_step=1),
    ]


def _measurements(ref: dict[str, Any]) -> int:
    return int(next(a["value"] for a in ref["args"] if a["name"] == specs.ARG_MEASUREMENTS))


class World:
    def __init__(self) -> None:
        self.templates: dict[str, dict[str, Any]] = {}
        self.plans: dict[str, sim.Plan] = {}
        self.timings: dict[str, specs.Timing] = {}
        self.hash: dict[tuple[str, str], str] = {}
        self.scenarios: dict[str, list[sim.Scenario]] = {}
        self.bg: dict[str, Any] = {}
        self.url = ""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World()
    backfill = sim.Backfill(tmp_path_factory.mktemp("canary-sim"))
    names = sim.hashes("5c9d")
    for stack in STACKS:
        inp = stack_delivery(stack)
        w.templates[stack] = specs.analysis_template(inp)
        w.plans[stack] = p = sim.plan(specs.rollout_strategy(inp))
        w.timings[stack] = specs.timing(inp)
        w.scenarios[stack] = _scenarios(stack, len(p.steps))
        # the stable version, erroring at 10 % all along: the canary's queries must not see it
        stable = sim.Scenario("stable", error_ratio=0.10, stable=True)
        for sc in [*w.scenarios[stack], stable]:
            h = w.hash[(stack, sc.name)] = next(names)
            backfill.add(
                sim.series(
                    sc,
                    p,
                    canary_hash=h,
                    namespace=inp.namespace,
                    app=inp.app,
                    scrape=inp.scrape_seconds,
                    until=p.promotion + 60,
                )
            )
    # blue/green: the preview gets PREVIEW_SHARE until the switch, all traffic after it. The switch comes
    # when autoPromotionSeconds have passed and the pre-promotion run has completed, whichever is later.
    inp = stack_delivery("prod", strategy="blueGreen")
    bg = specs.rollout_strategy(inp)["blueGreen"]
    t = w.timings[BLUE_GREEN] = specs.timing(inp)
    w.templates[BLUE_GREEN] = specs.analysis_template(inp)
    w.bg = bg
    pre_end = t.warmup + (_measurements(bg["prePromotionAnalysis"]) - 1) * t.interval
    switch = max(float(bg["autoPromotionSeconds"]), pre_end)
    w.plans[BLUE_GREEN] = data_plan = sim.Plan(((PREVIEW_SHARE, 0.0, switch), (100, switch, switch + 900)))
    w.scenarios[BLUE_GREEN] = _blue_green_scenarios()
    for sc in w.scenarios[BLUE_GREEN]:
        h = w.hash[(BLUE_GREEN, sc.name)] = next(names)
        backfill.add(
            sim.series(
                sc, data_plan, canary_hash=h, namespace=inp.namespace, app=inp.app, scrape=15, until=switch + 900
            )
        )
    with backfill:
        w.url = backfill.url
        yield w


def run(w: World, stack: str, name: str) -> sim.Result:
    result = sim.simulate(w.templates[stack], w.plans[stack], url=w.url, canary_hash=w.hash[(stack, name)])
    print(f"{stack}/{name}: {result.outcome} at {result.at}\n{result.summary}")
    return result


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("name", ["errors-10pct-from-start", "p95-800ms"])
def test_a_canary_broken_from_its_start_is_aborted_before_promotion(world: World, stack: str, name: str) -> None:
    r = run(world, stack, name)
    assert r.outcome == sim.ABORTED, r.summary
    assert r.at is not None and r.at < r.promotion, r.summary
    assert r.at <= world.timings[stack].worst_case_abort, (r.at, world.timings[stack].as_dict())
    if stack == "prod":
        assert r.at <= WITH_CANARY_LIMIT_SECONDS, r.summary


def test_prod_canary_breaking_at_any_later_step_is_aborted_within_that_step(world: World) -> None:
    p = world.plans["prod"]
    later = [sc for sc in world.scenarios["prod"] if sc.errors_from_step > 0]
    assert len(later) == len(p.steps) - 1 >= 2  # including the last step
    for sc in later:
        r = run(world, "prod", sc.name)
        _, start, end = p.steps[sc.errors_from_step]
        assert r.outcome == sim.ABORTED, r.summary
        assert r.at is not None and r.at < r.promotion, r.summary
        # within one step: the deciding measurement falls within the step in which it broke (the
        # controllers then need up to CONTROLLER_REACTION_SECONDS), and never after the last pause
        assert r.decided_at is not None and r.decided_at <= end, (sc.name, start, end, r.summary)
        # and no later than one configured step (60 s) after it broke: the window fits the steps
        assert r.decided_at - start <= world.timings["prod"].configured_pauses[sc.errors_from_step], r.summary
        assert r.at - start <= world.timings["prod"].late_abort, r.summary


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("name", ["no-traffic", "unscraped"])
def test_a_blind_or_idle_canary_pauses_for_a_human(world: World, stack: str, name: str) -> None:
    r = run(world, stack, name)
    assert r.outcome == sim.PAUSED, r.summary
    assert r.at is not None and r.at < r.promotion
    # decided past the warm-up and one tolerated measurement (pods starting): never promoted on no data
    t = world.timings[stack]
    assert r.decided_at == t.warmup + t.interval, r.summary
    assert r.at == t.blind_pause(1)


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("name", ["healthy", "errors-4pct"])
def test_healthy_and_4pct_canaries_are_promoted(world: World, stack: str, name: str) -> None:
    r = run(world, stack, name)
    assert r.outcome == sim.PROMOTED, r.summary
    assert r.at == world.timings[stack].promotion_after
    measured = [line for line in r.summary.splitlines() if "value=" in line]
    assert measured and all("Successful" in line for line in measured), r.summary


def test_dev_plan_is_held_long_enough_to_abort(world: World) -> None:
    t = world.timings["dev"]
    assert t.configured_pauses == (30,)  # the stack asks for one 30 s pause
    assert t.pauses[-1] >= t.worst_case_abort  # the builder holds it: an abort is possible


@pytest.mark.parametrize("stack", STACKS)
def test_the_template_judges_only_the_hash_it_is_given(world: World, stack: str) -> None:
    # the same template pointed at the erroring stable version aborts: the healthy canary's promotion
    # above is not a template that sees nothing
    r = run(world, stack, "stable")
    assert r.outcome == sim.ABORTED, r.summary


def _blue_green(w: World, name: str) -> tuple[sim.Result, sim.Result | None]:
    """(pre-promotion run, post-promotion run if the switch happened)."""
    data_plan, template, h = w.plans[BLUE_GREEN], w.templates[BLUE_GREEN], w.hash[(BLUE_GREEN, name)]
    switch = data_plan.step_start(1)
    pre_plan = sim.Plan(((100, 0.0, float(w.bg["autoPromotionSeconds"])),))
    pre = sim.simulate(
        template,
        pre_plan,
        url=w.url,
        canary_hash=h,
        measurements=_measurements(w.bg["prePromotionAnalysis"]),
        stop_at_promotion=False,
    )
    print(f"{BLUE_GREEN}/{name} pre: {pre.outcome} at {pre.at}\n{pre.summary}")
    if pre.outcome != sim.PROMOTED:
        return pre, None
    assert pre.at == switch
    post = sim.simulate(
        template,
        sim.Plan(((100, switch, switch + 900),)),
        url=w.url,
        canary_hash=h,
        measurements=_measurements(w.bg["postPromotionAnalysis"]),
        start=switch,
        stop_at_promotion=False,
    )
    print(f"{BLUE_GREEN}/{name} post: {post.outcome} at {post.at}\n{post.summary}")
    return pre, post


def test_blue_green_idle_preview_waits_for_a_human(world: World) -> None:
    pre, post = _blue_green(world, "bg-idle-preview")
    assert pre.outcome == sim.PAUSED and post is None, pre.summary


def test_blue_green_healthy_preview_is_switched_and_stays(world: World) -> None:
    pre, post = _blue_green(world, "bg-healthy")
    assert pre.outcome == sim.PROMOTED and post is not None and post.outcome == sim.PROMOTED, pre.summary
    # the same definition, measured before (preview) and after (active) the switch
    assert post.decided_at is not None and post.decided_at > world.plans[BLUE_GREEN].step_start(1)


def test_blue_green_bad_preview_is_aborted_before_the_switch(world: World) -> None:
    pre, post = _blue_green(world, "bg-errors-from-start")
    assert pre.outcome == sim.ABORTED and post is None, pre.summary
    assert pre.at is not None and pre.at <= WITH_CANARY_LIMIT_SECONDS
    assert pre.at < world.bg["autoPromotionSeconds"]


def test_blue_green_breakage_right_after_the_switch_is_rolled_back_while_the_old_version_is_up(
    world: World,
) -> None:
    pre, post = _blue_green(world, "bg-breaks-after-the-switch")
    switch = world.plans[BLUE_GREEN].step_start(1)
    assert pre.outcome == sim.PROMOTED, pre.summary
    assert post is not None, pre.summary
    assert post.outcome == sim.ABORTED, post.summary
    assert post.at is not None
    # the previous ReplicaSet is still scaled up: the active Service switches straight back
    assert post.at - switch <= world.bg["scaleDownDelaySeconds"]
    assert post.at - switch <= world.timings[BLUE_GREEN].worst_case_abort
