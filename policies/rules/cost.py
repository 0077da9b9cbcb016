"""Cost rules: namespaces carry cost-allocation labels; the stack's monthly estimate stays in budget.

The budget rule prices the resources the pack sees with the shared estimator
(``components/cost/estimate.py``, standard library only), the same code the render's cost report and
the pull-request estimate use, so the three agree to the cent. Prices, node count and budget are the
stack's own ``cost*`` settings: the CostVisibility component puts its ``costModel`` (the same dict as
the stack output) on OpenCost's pricing ConfigMap as the ``hardening/cost-model`` annotation, and the
rule reads it there. The policy config holds only the level and exemptions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from components.conventions import LABEL_COST_CENTER, LABEL_TEAM
from components.cost import estimate as shared
from components.cost.opencost import COST_MODEL_ANNOTATION

from .common import CONFIGMAP, NAMESPACE, UNKNOWN, Finding, Resource, Rule, labels, metadata, ref

REQUIRED_LABELS_DEFAULT = [LABEL_TEAM, LABEL_COST_CENTER]


def namespace_labels(res: Resource, config: Mapping[str, Any]) -> list[str]:
    """Every Namespace carries the cost-allocation labels (``team``, ``cost-center``)."""
    required = [k for k in config.get("requiredLabels") or REQUIRED_LABELS_DEFAULT if isinstance(k, str)]
    have = labels(res.props)
    missing = [k for k in required if not (k in have and (not isinstance(have[k], str) or have[k].strip()))]
    if not missing:
        return []
    return [f"{ref(res)}: missing label(s) {', '.join(missing)}"]


POLICY_COST_NAMESPACE_LABELS = Rule(
    name="cost-namespace-labels",
    area="cost",
    severity="low",
    kind="resource",
    default_level="mandatory",
    check=namespace_labels,
    applies_to=frozenset({NAMESPACE}),
    config={
        "requiredLabels": {
            "type": "array",
            "items": {"type": "string"},
            "default": REQUIRED_LABELS_DEFAULT,
            "description": "Labels every Namespace must carry (cost allocation).",
        },
    },
    description="Every namespace is labelled with its team and cost center for cost allocation.",
    remediation="Set metadata.labels team and cost-center on the Namespace (values come from the "
    "stack config of the namespaces module).",
)


def cost_model(resources: Sequence[Resource]) -> tuple[shared.Prices | None, str]:
    """The stack's prices and budget from the annotated pricing ConfigMap, or None and why not."""
    found = [r for r in resources if r.type == CONFIGMAP and COST_MODEL_ANNOTATION in annotations_of(r.props)]
    if not found:
        return None, (
            f"no ConfigMap carries the {COST_MODEL_ANNOTATION} annotation (the CostVisibility component "
            "writes the stack's prices and budget there); deploy it or disable cost-monthly-budget"
        )
    raw = annotations_of(found[0].props)[COST_MODEL_ANNOTATION]
    if not isinstance(raw, str):
        return None, ""  # unknown during preview
    try:
        return shared.Prices.from_dict(json.loads(raw), where=f"{ref(found[0])} {COST_MODEL_ANNOTATION}"), ""
    except (json.JSONDecodeError, shared.EstimateError) as exc:
        return None, f"{ref(found[0])}: annotation {COST_MODEL_ANNOTATION} is not a cost model ({exc})"


def annotations_of(props: Mapping[str, Any]) -> Mapping[str, Any]:
    value = metadata(props).get("annotations")
    return value if isinstance(value, Mapping) else {}


def has_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, Mapping):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(has_unknown(v) for v in value)
    return False


def estimate(resources: Sequence[Resource], prices: shared.Prices) -> shared.Estimate:
    """The stack's monthly estimate by the shared estimator (``components/cost/estimate.py``)."""
    records = [{"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent, "inputs": r.props} for r in resources]
    return shared.estimate_resources(records, prices, source="policy pack")


def monthly_budget(resources: Sequence[Resource], config: Mapping[str, Any]) -> list[Finding]:
    """The stack's estimated monthly cost stays under its ``costMonthlyBudget``."""
    prices, why = cost_model(resources)
    if prices is None:
        return [Finding(why)] if why else []
    if prices.monthly_budget is None:
        return [Finding(f"the stack's cost model ({COST_MODEL_ANNOTATION}) has no monthlyBudget")]
    try:
        est = estimate(resources, prices)
    except shared.EstimateError as exc:
        if any(has_unknown(r.props) for r in resources):
            return []  # a request or replica count unknown during preview: nothing to judge yet
        return [Finding(f"cannot estimate the monthly cost: {exc}")]
    budget = prices.monthly_budget
    if est.monthly <= budget:
        return []
    currency = est.prices.currency
    top = sorted(est.lines, key=lambda line: line.monthly, reverse=True)[:5]
    biggest = "; ".join(
        f"{line.kind}/{line.namespace}/{line.name} {shared.money(line.monthly, currency)}" for line in top
    )
    return [
        Finding(
            f"estimated monthly cost {shared.money(est.monthly, currency)} exceeds the stack's budget "
            f"(costMonthlyBudget) of {shared.money(budget, currency)}; largest: {biggest}"
        )
    ]


POLICY_COST_MONTHLY_BUDGET = Rule(
    name="cost-monthly-budget",
    area="cost",
    severity="medium",
    kind="stack",
    default_level="advisory",
    check=monthly_budget,
    description="The stack's estimated monthly cost (the shared estimator: requests x replicas, volumes, "
    "load balancers) stays under the stack's costMonthlyBudget, priced with its own cost* settings (read "
    "from the hardening/cost-model annotation of OpenCost's pricing ConfigMap).",
    remediation="Lower requests or replicas in Pulumi.<stack>.yaml, or raise hardening:costMonthlyBudget "
    "there after the budget owner agrees.",
)
