"""Cost rules: namespaces carry cost-allocation labels; the stack's monthly estimate stays in budget.

The budget rule prices the resources the pack sees with the shared estimator
(``components/cost/estimate.py``, standard library only), the same code the render's cost report and
the pull-request estimate use, so the three agree to the cent. Unit prices come from the policy config
under the keys of the stack's ``costModel`` output; keep them equal to the stack's ``cost*`` settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from components.conventions import LABEL_COST_CENTER, LABEL_TEAM
from components.cost import estimate as shared

from .common import UNKNOWN, Finding, Resource, labels, number, ref

REQUIRED_LABELS_DEFAULT = [LABEL_TEAM, LABEL_COST_CENTER]

# Policy-config keys of the estimator's prices, as in the ``costModel`` stack output; defaults are
# OpenCost's default on-demand prices (CPU 0.031611 per vCPU-hour, RAM 0.004237 per GiB-hour, storage
# 0.04 per GiB-month) and 0.025 per load-balancer hour.
PRICE_DEFAULTS: dict[str, Any] = {
    "cpuCoreHourly": 0.031611,
    "memoryGibHourly": 0.004237,
    "storageGibMonthly": 0.04,
    "loadBalancerHourly": 0.025,
    "daemonSetNodes": 1,
    "hoursPerMonth": shared.HOURS_PER_MONTH,
    "currency": "USD",
}
PRICE_KEYS = tuple(PRICE_DEFAULTS)


def namespace_labels(res: Resource, config: Mapping[str, Any]) -> list[str]:
    """Every Namespace carries the cost-allocation labels (``team``, ``cost-center``)."""
    required = [k for k in config.get("requiredLabels") or REQUIRED_LABELS_DEFAULT if isinstance(k, str)]
    have = labels(res.props)
    missing = [k for k in required if not (k in have and (not isinstance(have[k], str) or have[k].strip()))]
    if not missing:
        return []
    return [f"{ref(res)}: missing label(s) {', '.join(missing)}"]


def prices(config: Mapping[str, Any]) -> shared.Prices:
    """The shared estimator's unit prices from the policy config (same keys as the ``costModel`` output)."""
    model = {k: config[k] for k in PRICE_KEYS if k in config}
    nodes = number(model.get("daemonSetNodes"))
    if nodes is not None and nodes.is_integer():
        model["daemonSetNodes"] = int(nodes)
    return shared.Prices.from_dict(model, where="policy config")


def has_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, Mapping):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(has_unknown(v) for v in value)
    return False


def estimate(resources: Sequence[Resource], config: Mapping[str, Any]) -> shared.Estimate:
    """The stack's monthly estimate by the shared estimator (``components/cost/estimate.py``)."""
    records = [{"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent, "inputs": r.props} for r in resources]
    return shared.estimate_resources(records, prices(config), source="policy pack")


def monthly_budget(resources: Sequence[Resource], config: Mapping[str, Any]) -> list[Finding]:
    """The stack's estimated monthly cost stays under ``monthlyBudget``."""
    budget = number(config.get("monthlyBudget"))
    if budget is None:
        return [Finding("monthlyBudget is not configured for this stack")]
    try:
        est = estimate(resources, config)
    except shared.EstimateError as exc:
        if any(has_unknown(r.props) for r in resources):
            return []  # a request or replica count unknown during preview: nothing to judge yet
        return [Finding(f"cannot estimate the monthly cost: {exc}")]
    if est.monthly <= budget:
        return []
    currency = est.prices.currency
    top = sorted(est.lines, key=lambda line: line.monthly, reverse=True)[:5]
    biggest = "; ".join(
        f"{line.kind}/{line.namespace}/{line.name} {shared.money(line.monthly, currency)}" for line in top
    )
    return [
        Finding(
            f"estimated monthly cost {shared.money(est.monthly, currency)} exceeds the budget of "
            f"{shared.money(budget, currency)}; largest: {biggest}"
        )
    ]
