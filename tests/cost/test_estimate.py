"""The estimator on a hand-priced plan, the PR diff and its threshold, and the CLI's errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.cost.diff import compare
from components.cost.estimate import EstimateError, Prices, estimate_plan, quantity
from tests.cost import fixtures as fx
from tools.cost import main as cost_main

ROOT = Path(__file__).resolve().parents[2]


def test_hand_computed_plan() -> None:
    est = estimate_plan(fx.plan())
    assert est.monthly == pytest.approx(fx.TOTAL, abs=1e-9)
    assert {k: g.monthly for k, g in est.by_component.items()} == pytest.approx(fx.BY_COMPONENT)
    assert {k: g.monthly for k, g in est.by_team.items()} == pytest.approx(fx.BY_TEAM)
    assert {k: g.monthly for k, g in est.by_namespace.items()} == pytest.approx(fx.BY_NAMESPACE)
    lines = {line.name: line for line in est.lines}
    assert lines["agent"].replicas == 3 and lines["agent"].cpu_cores == pytest.approx(0.1)
    assert any("LimitRange defaultRequest" in n for n in lines["agent"].notes)
    assert lines["db"].storage_gib == 20 and lines["db"].storage_monthly == pytest.approx(2.0)
    assert lines["lb"].load_balancer_monthly == pytest.approx(14.6)
    assert "internal" not in lines and "migrate" not in lines
    assert [s.urn.rsplit("::", 1)[1] for s in est.skipped] == ["migrate"]
    doc = est.to_dict()
    assert doc["monthly"] == round(fx.TOTAL, 6) and json.loads(json.dumps(doc)) == doc
    assert "$118.48 per month" in est.format_text()


def test_limit_without_request_and_init_containers() -> None:
    plan = fx.plan()
    api = next(r for r in plan["resources"] if r["name"] == "api")
    c = api["inputs"]["spec"]["template"]["spec"]["containers"][0]
    c["resources"] = {"limits": {"cpu": "2", "memory": "1Gi"}}  # request := limit
    api["inputs"]["spec"]["template"]["spec"]["initContainers"] = [
        {"name": "big-init", "resources": {"requests": {"cpu": "3", "memory": "64Mi"}}}
    ]
    line = next(x for x in estimate_plan(plan).lines if x.name == "api")
    assert line.cpu_cores == 3.0  # the init container's peak wins for CPU
    assert line.memory_gib == 1.0  # the app container's (limit) wins for memory


def test_quantities() -> None:
    assert quantity("250m", "x") == 0.25 and quantity("1.5", "x") == 1.5 and quantity(2.0, "x") == 2.0
    assert quantity("512Mi", "x") == 512 * 2**20 and quantity("1G", "x") == 1e9 and quantity("1e3", "x") == 1000
    with pytest.raises(EstimateError, match=r"spec.replicas|not a Kubernetes quantity"):
        quantity("ten", "x")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda p: p.pop("resources"), "'resources' is missing"),
        (lambda p: p["outputs"].pop("costModel"), "outputs.costModel is missing"),
        (lambda p: p["outputs"]["costModel"].pop("cpuCoreHourly"), "cpuCoreHourly: missing"),
        (lambda p: p["outputs"]["costModel"].update(cpuCoreHourly="cheap"), "cpuCoreHourly: 'cheap' is not a number"),
        (
            lambda p: p["resources"][4]["inputs"]["spec"]["template"]["spec"]["containers"][0]["resources"][
                "requests"
            ].update(cpu="lots"),
            "containers\\[0\\].resources.requests.cpu: 'lots'",
        ),
    ],
)
def test_bad_plans_name_the_problem(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    plan = fx.plan()
    mutate(plan)
    with pytest.raises(EstimateError, match=message):
        estimate_plan(plan)


def _est(plan: dict) -> dict:  # type: ignore[type-arg]
    return estimate_plan(plan).to_dict()


def test_diff_increase_added_component_and_threshold() -> None:
    d = compare(_est(fx.plan()), _est(fx.head_plan()), 20)
    # base 118.47875 -> 118.48; head + 9.125 (api 2 -> 3) + 18.25 (cache) = 145.85375 -> 145.85
    assert (d.base_cents, d.head_cents) == (11848, 14585)
    assert d.added == ["Cache/cache"] and d.removed == []
    assert d.exceeded and "[!WARNING]" in d.to_markdown()
    assert "| Cache/cache | — | $18.25 | +$18.25 (new) |" in d.to_markdown()
    assert not compare(_est(fx.plan()), _est(fx.head_plan()), 25).exceeded


def test_diff_exactly_threshold_is_not_above() -> None:
    base, head = _est(fx.plan()), _est(fx.plan())
    base["monthly"], head["monthly"] = 100.0, 120.0
    assert not compare(base, head, 20).exceeded
    head["monthly"] = 120.01
    assert compare(base, head, 20).exceeded


def test_diff_decrease_and_removed_component() -> None:
    d = compare(_est(fx.head_plan()), _est(fx.plan()), 20)
    assert d.change_cents == -2737 and not d.exceeded and d.removed == ["Cache/cache"]
    md = d.to_markdown()
    assert "-$27.37" in md and "Removed components: `Cache/cache` ($18.25)" in md and "WARNING" not in md


def test_cli_diff_writes_files_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "head").mkdir()
    (tmp_path / "base" / "plan.json").write_text(json.dumps(fx.plan()))
    (tmp_path / "head" / "plan.json").write_text(json.dumps(fx.head_plan()))
    md, js = tmp_path / "c.md", tmp_path / "c.json"
    args = [str(tmp_path / "base"), str(tmp_path / "head")]
    assert cost_main(["diff", *args, "--out", str(md)]) == 0
    assert cost_main(["diff", *args, "--json", "--out", str(js)]) == 0
    assert capsys.readouterr().out == ""  # --out: the file instead of stdout
    assert cost_main(["diff", *args, "--fail-on-increase"]) == 3
    assert capsys.readouterr().out.startswith("<!-- hardening-cost-estimate -->\n")
    assert cost_main(["diff", *args, "--fail-on-increase", "--threshold", "30"]) == 0
    capsys.readouterr()
    assert cost_main(["diff", *args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["exceeded"] is True  # --json: machine output on stdout
    assert json.loads(js.read_text())["exceeded"] is True and md.read_text().startswith("<!--")
    assert cost_main(["estimate", args[0], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["schema"] == "hardening.cost/v1"


def test_cli_errors_name_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text("{not json")
    assert cost_main(["diff", str(tmp_path / "missing"), str(bad)]) == 2
    assert "missing: no such file" in capsys.readouterr().err
    assert cost_main(["diff", str(bad), str(bad)]) == 2
    assert f"{bad}: not valid JSON" in capsys.readouterr().err
    (tmp_path / "x.json").write_text("[]")
    assert cost_main(["estimate", str(tmp_path / "x.json")]) == 2
    assert "neither a plan.json" in capsys.readouterr().err


def test_prices_validation() -> None:
    with pytest.raises(EstimateError, match="daemonset_nodes"):
        Prices(0.1, 0.1, 0.1, 0.1, daemonset_nodes=0)


def test_cost_guide_shows_what_the_tool_produces() -> None:
    from tests.cost.test_comment import GOLDEN, synthetic_comment

    guide = (ROOT / "docs" / "COST_GUIDE.md").read_text()
    start, end = "<!-- sample-comment:start -->\n", "<!-- sample-comment:end -->"
    assert start in guide and end in guide
    sample = guide.split(start, 1)[1].split(end, 1)[0]
    assert (
        sample == "````markdown\n" + synthetic_comment() + "````\n" == "````markdown\n" + GOLDEN.read_text() + "````\n"
    )
