"""Cost rules: namespaces carry cost-allocation labels; the stack's monthly estimate stays in budget.

The budget rule uses :func:`estimate_monthly_cost`, a small estimator over the resources the pack
sees: CPU and memory requests times replicas, persistent volume requests and LoadBalancer
Services, priced with the unit prices from the policy configuration. Its defaults are OpenCost's
default on-demand prices, so the figure is comparable with what OpenCost later reports.
TODO(cost): call the shared estimator in ``components/cost/estimate.py`` once it exists, so the
pull-request estimate, OpenCost and this rule agree to the cent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.conventions import LABEL_COST_CENTER, LABEL_TEAM

from .common import (
    CRONJOB,
    DAEMONSET,
    JOB,
    NAMESPACE,
    POD,
    PVC,
    REPLICATED_TYPES,
    SERVICE,
    STATEFULSET,
    Finding,
    Resource,
    as_list,
    as_map,
    containers,
    dig,
    exempt,
    labels,
    number,
    pod_spec,
    quantity,
    ref,
)

REQUIRED_LABELS_DEFAULT = [LABEL_TEAM, LABEL_COST_CENTER]

# Unit prices (USD). Defaults are OpenCost's default on-demand pricing (CPU 0.031611 per vCPU-hour,
# RAM 0.004237 per GiB-hour, storage 0.00005479452 per GiB-hour = 0.04 per GiB-month).
PRICE_DEFAULTS: dict[str, float] = {
    "cpuCoreHourUsd": 0.031611,
    "memoryGibHourUsd": 0.004237,
    "storageGibMonthUsd": 0.04,
    "loadBalancerMonthUsd": 18.25,
    "hoursPerMonth": 730.0,
    "daemonSetNodes": 1.0,
}
_GIB = 2.0**30


def namespace_labels(res: Resource, config: Mapping[str, Any]) -> list[str]:
    """Every Namespace carries the cost-allocation labels (``team``, ``cost-center``)."""
    if res.type != NAMESPACE or exempt(res, config):
        return []
    required = [k for k in config.get("requiredLabels") or REQUIRED_LABELS_DEFAULT if isinstance(k, str)]
    have = labels(res.props)
    missing = [k for k in required if not (k in have and (not isinstance(have[k], str) or have[k].strip()))]
    if not missing:
        return []
    return [f"{ref(res)}: missing label(s) {', '.join(missing)}"]


@dataclass
class CostLine:
    ref: str
    monthly_usd: float
    detail: str


@dataclass
class CostEstimate:
    lines: list[CostLine] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(line.monthly_usd for line in self.lines)


def _price(config: Mapping[str, Any], key: str) -> float:
    val = number(config.get(key))
    return PRICE_DEFAULTS[key] if val is None else val


def pod_requests(spec: Mapping[str, Any]) -> tuple[float, float]:
    """Effective (CPU cores, memory bytes) a pod requests: max(sum of containers, largest init container)."""
    cpu = mem = 0.0
    init_cpu = init_mem = 0.0
    for fld, c in containers(spec):
        req = as_map(dig(c, "resources", "requests"))
        ccpu, cmem = quantity(req.get("cpu")) or 0.0, quantity(req.get("memory")) or 0.0
        if fld == "containers":
            cpu, mem = cpu + ccpu, mem + cmem
        elif fld == "initContainers":
            if c.get("restartPolicy") == "Always":  # native sidecar: runs alongside
                cpu, mem = cpu + ccpu, mem + cmem
            else:
                init_cpu, init_mem = max(init_cpu, ccpu), max(init_mem, cmem)
    return max(cpu, init_cpu), max(mem, init_mem)


def _replicas(r: Resource, config: Mapping[str, Any]) -> float:
    if r.type == DAEMONSET:
        return _price(config, "daemonSetNodes")
    if r.type == POD:
        return 1.0
    raw = dig(r.props, "spec", "replicas")
    val = number(raw)
    return 1.0 if raw is None or val is None else val


def estimate_monthly_cost(resources: Sequence[Resource], config: Mapping[str, Any]) -> CostEstimate:
    """Monthly cost of long-running workloads, volumes and load balancers (Jobs/CronJobs excluded)."""
    hours = _price(config, "hoursPerMonth")
    cpu_price, mem_price = _price(config, "cpuCoreHourUsd"), _price(config, "memoryGibHourUsd")
    storage_price, lb_price = _price(config, "storageGibMonthUsd"), _price(config, "loadBalancerMonthUsd")
    est = CostEstimate()
    for r in resources:
        if r.type in REPLICATED_TYPES or r.type in (DAEMONSET, POD):
            spec = pod_spec(r)
            if spec is None:
                continue
            n = _replicas(r, config)
            cpu, mem = pod_requests(spec)
            monthly = n * hours * (cpu * cpu_price + mem / _GIB * mem_price)
            detail = f"{n:g} x ({cpu:g} CPU, {mem / _GIB:.3g} GiB)"
            if r.type == STATEFULSET:
                gib = sum((quantity(dig(t, "spec", "resources", "requests", "storage")) or 0.0) / _GIB
                          for t in as_list(dig(r.props, "spec", "volumeClaimTemplates")))
                if gib:
                    monthly += n * gib * storage_price
                    detail += f" + {n:g} x {gib:g} GiB storage"
            est.lines.append(CostLine(ref(r), monthly, detail))
        elif r.type == PVC:
            gib = (quantity(dig(r.props, "spec", "resources", "requests", "storage")) or 0.0) / _GIB
            est.lines.append(CostLine(ref(r), gib * storage_price, f"{gib:g} GiB storage"))
        elif r.type == SERVICE and dig(r.props, "spec", "type") == "LoadBalancer":
            est.lines.append(CostLine(ref(r), lb_price, "load balancer"))
        elif r.type in (JOB, CRONJOB):
            continue
    return est


def monthly_budget(resources: Sequence[Resource], config: Mapping[str, Any]) -> list[Finding]:
    """The stack's estimated monthly cost stays under ``monthlyBudgetUsd``."""
    budget = number(config.get("monthlyBudgetUsd"))
    if budget is None:
        return [Finding("monthlyBudgetUsd is not configured for this stack")]
    est = estimate_monthly_cost(resources, config)
    if est.total <= budget:
        return []
    top = sorted(est.lines, key=lambda line: line.monthly_usd, reverse=True)[:5]
    biggest = "; ".join(f"{line.ref} ${line.monthly_usd:.2f} ({line.detail})" for line in top)
    return [Finding(f"estimated monthly cost ${est.total:.2f} exceeds the budget of ${budget:.2f}; "
                    f"largest: {biggest}")]
