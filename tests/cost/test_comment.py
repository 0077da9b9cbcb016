"""The pull-request cost comment: a golden file for a synthetic change, and the real renders compared."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from components.cost.diff import MARKER, compare
from components.cost.estimate import estimate_plan
from tests.cost import fixtures as fx
from tools.cost import load_estimate

GOLDEN = Path(__file__).parent / "golden" / "synthetic-change.md"
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "COST_GUIDE.md"
REAL = ("<!-- real-comment:start -->\n````markdown\n", "````\n<!-- real-comment:end -->")
WEB = "urn:pulumi:t::p::hardening:app:App::app"
PRICES = {**fx.PRICES, "monthlyBudget": 100.0}


def _rollout(replicas: int) -> dict[str, Any]:
    return fx._res(
        "kubernetes:argoproj.io/v1alpha1:Rollout",
        "rollout",
        {
            "metadata": {"name": "orders-api", "namespace": "web"},
            "spec": {"replicas": replicas, "template": fx._pod([fx._c("api", "250m", "256Mi")])},
        },
        WEB,
    )


def synthetic_base() -> dict[str, Any]:
    """A Rollout of 3 behind an HPA (3-10), a 50 GiB volume, a Deployment that does not change, a Job."""
    return copy.deepcopy(
        {
            "project": "p",
            "stack": "t",
            "outputs": {"costModel": PRICES},
            "resources": [
                {"urn": WEB, "type": "hardening:app:App", "name": "app", "parent": None, "custom": False, "inputs": {}},
                fx._res(
                    "kubernetes:core/v1:Namespace", "web", {"metadata": {"name": "web", "labels": {"team": "web"}}}
                ),
                _rollout(3),
                fx._res(
                    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
                    "hpa",
                    {
                        "metadata": {"name": "orders-api", "namespace": "web"},
                        "spec": {
                            "minReplicas": 3,
                            "maxReplicas": 10,
                            "scaleTargetRef": {
                                "apiVersion": "argoproj.io/v1alpha1",
                                "kind": "Rollout",
                                "name": "orders-api",
                            },
                        },
                    },
                    WEB,
                ),
                fx._res(
                    "kubernetes:core/v1:PersistentVolumeClaim",
                    "data",
                    {
                        "metadata": {"name": "data", "namespace": "web"},
                        "spec": {"resources": {"requests": {"storage": "50Gi"}}},
                    },
                    WEB,
                ),
                fx._res(
                    "kubernetes:apps/v1:Deployment",
                    "worker",
                    {
                        "metadata": {"name": "worker", "namespace": "web"},
                        "spec": {"replicas": 1, "template": fx._pod([fx._c("w", "100m", "128Mi")])},
                    },
                    WEB,
                ),
                fx._res(
                    "kubernetes:batch/v1:Job",
                    "migrate",
                    {
                        "metadata": {"name": "migrate", "namespace": "web"},
                        "spec": {"template": fx._pod([fx._c("m", "1")])},
                    },
                    WEB,
                ),
            ],
        }
    )


def synthetic_head() -> dict[str, Any]:
    """The pull request: the Rollout 3 -> 5 replicas, the volume 50 -> 100 GiB, a new LoadBalancer Service."""
    plan = synthetic_base()
    for res in plan["resources"]:
        if res["name"] == "rollout":
            res["inputs"]["spec"]["replicas"] = 5
        if res["name"] == "data":
            res["inputs"]["spec"]["resources"]["requests"]["storage"] = "100Gi"
    plan["resources"].append(
        fx._res(
            "kubernetes:core/v1:Service",
            "public",
            {"metadata": {"name": "orders-api-public", "namespace": "web"}, "spec": {"type": "LoadBalancer"}},
            WEB,
        )
    )
    return plan


def synthetic_comment() -> str:
    base, head = estimate_plan(synthetic_base()).to_dict(), estimate_plan(synthetic_head()).to_dict()
    return compare(base, head, 20).to_markdown()


def test_synthetic_change_matches_the_golden_file() -> None:
    comment = synthetic_comment()
    if os.environ.get("UPDATE_GOLDEN") == "1":  # regenerate after a deliberate change, then review the diff
        GOLDEN.write_text(comment)
    assert comment == GOLDEN.read_text()


def test_comment_shows_each_change_with_its_attribute_and_delta() -> None:
    comment = synthetic_comment()
    lines = comment.splitlines()
    assert lines[0] == MARKER and lines[1] == "### Cost estimate: stack `t`"
    # Rollout: 3 x (0.25 vCPU x 0.04 + 0.25 GiB x 0.005) x 730 = 24.6375 -> $24.64; 5 x = 41.0625 -> $41.06
    rollout = next(line for line in lines if "Rollout `web/orders-api`" in line and line.startswith("| ~"))
    assert "replicas 3 → 5" in rollout and "$24.64 → $41.06 (**+$16.42**)" in rollout
    # volume: 50 -> 100 GiB x 0.1 = +5.00
    volume = next(line for line in lines if "PersistentVolumeClaim `web/data`" in line)
    assert "volume 50 GiB → 100 GiB" in volume and "$5.00 → $10.00 (**+$5.00**)" in volume
    # a new load balancer: 0.02 x 730 = 14.60
    lb = next(line for line in lines if "Service `web/orders-api-public`" in line)
    assert lb.startswith("| + |") and "added: load balancer 1" in lb and "— → $14.60 (**+$14.60**)" in lb
    assert "1 resource(s) unchanged ($3.38 per month)." in lines  # worker: (0.1 x 0.04 + 0.125 x 0.005) x 730 = 3.37625
    assert any(line.startswith("**$33.01 → $69.04 per month (+$36.03, +109.1 %)**") for line in lines)
    assert "Budget: within (69.0 % of the $100.00 monthly budget)." in comment
    assert "- Rollout `web/orders-api`: 3\u201310 replicas, $24.64\u2013$82.12 (now 5: $41.06)" in lines
    assert "- Job `migrate`: runs to completion; its schedule decides the cost" in lines
    assert "<details><summary>By component</summary>" in lines and "</details>" in lines
    assert "[!WARNING]" in comment  # +109 % is above the 20 % threshold


def test_over_budget_and_unchanged_plan() -> None:
    base = estimate_plan(synthetic_base()).to_dict()
    head = estimate_plan(synthetic_head()).to_dict()
    head["prices"]["monthlyBudget"] = 50.0
    over = compare(base, head, 200)
    assert over.over_budget and not over.exceeded
    md = over.to_markdown()
    assert "[!CAUTION]" in md and "Budget: **over by $19.04** (138.1 % of the $50.00 monthly budget)." in md
    same = compare(base, copy.deepcopy(base), 20).to_markdown()
    assert (
        "No priced resource changed." in same
        and "3 resource(s) unchanged ($33.01 per month)" in same
        and "WARNING" not in same
    )


def test_names_are_escaped_for_markdown() -> None:
    base = estimate_plan(synthetic_base()).to_dict()
    head = copy.deepcopy(base)
    head["lines"][0]["name"] = "x|y`<b>"
    md = compare(base, head, 20).to_markdown()
    assert "x\\|y'&lt;b&gt;" in md and "<b>" not in md


def test_dev_to_prod_is_labelled_with_both_stacks(rendered: Callable[[str], Path]) -> None:
    diff = compare(load_estimate(rendered("dev")), load_estimate(rendered("prod")), 20)
    md = diff.to_markdown()
    assert md.splitlines()[1] == "### Cost estimate: stack `dev` → stack `prod`"
    assert "Comparing two stacks: `dev` (before) and `prod` (after)." in md
    rollout = next(line for line in md.splitlines() if "Rollout `web/orders-api`" in line)
    assert "replicas 1 → 3" in rollout
    assert "Budget: within" in md and "$600.00 monthly budget" in md
    assert json.loads(json.dumps(diff.to_dict()))["baseStack"] == "dev"


def test_guide_real_example_is_the_renders(rendered: Callable[[str], Path]) -> None:
    comment = compare(load_estimate(rendered("dev")), load_estimate(rendered("prod")), 20).to_markdown()
    guide = GUIDE.read_text()
    head, rest = guide.split(REAL[0], 1)
    _, tail = rest.split(REAL[1], 1)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GUIDE.write_text(head + REAL[0] + comment + REAL[1] + tail)
        guide = GUIDE.read_text()
    assert guide.split(REAL[0], 1)[1].split(REAL[1], 1)[0] == comment


def test_removed_resources_and_estimates_without_lines() -> None:
    base, head = estimate_plan(synthetic_head()).to_dict(), estimate_plan(synthetic_base()).to_dict()
    md = compare(base, head, 20).to_markdown()  # the reverse change: the load balancer goes away
    lb = next(line for line in md.splitlines() if "Service `web/orders-api-public`" in line)
    assert lb.startswith("| - |") and "removed: load balancer 1" in lb and "$14.60 → — (**-$14.60**)" in lb
    del base["lines"]  # a cost.json from before per-resource lines: totals only, and the comment says so
    md = compare(base, head, 20).to_markdown()
    assert "Per-resource detail unavailable" in md and "| + |" not in md and "unchanged" not in md
    assert "**$69.04 → $33.01 per month" in md
