"""Monthly cost of a rendered stack, from its ``plan.json``: pure, standard library only.

The offline render (``tools/render.py``), the ``python -m tools.cost`` command and the policy pack all
import this module, so it depends on nothing but the standard library.

What is priced (steady state, ``monthly = hourly x 730``):

- **Pods**: the effective CPU and memory *requests* of the pod template (the largest of the sum of the
  app containers plus restartable init containers, and the peak of the run-to-completion init containers,
  as the scheduler computes it) times the replicas: ``spec.replicas`` of Deployments, ReplicaSets,
  StatefulSets and Argo Rollouts (default 1; when it is unset and a HorizontalPodAutoscaler targets the
  workload, the HPA's ``minReplicas``), the stack's DaemonSet node count for DaemonSets, 1 for a bare Pod.
  A Rollout with ``spec.workloadRef`` takes its pod template from the referenced Deployment.
- **Missing requests** get what the API server would give them: a container with a limit but no request
  requests its limit; one with neither takes the namespace's LimitRange ``defaultRequest`` (else its
  ``default``); without a LimitRange in the plan it requests nothing (and the line says so).
- **Volumes**: PersistentVolumeClaims and StatefulSet ``volumeClaimTemplates`` (times replicas), by their
  requested size in GiB (OpenCost prices volumes per GiB too).
- **Load balancers**: every Service of type LoadBalancer.
- **Not priced**, listed under ``skipped`` with the reason: Jobs and CronJobs (they run to completion;
  their schedule, not their spec, decides the cost), upstream release manifests (``yaml/v2:ConfigFile``:
  the plan does not show their objects) and Helm releases.

Unit prices come from the plan itself: the stack output ``costModel`` that the CostVisibility component
exports, built from the same stack settings (and by the same builder) as OpenCost's custom pricing
ConfigMap, so the estimate and OpenCost's live numbers use the same prices. Costs are allocated to the
outermost ``hardening:<area>:<Name>`` component that parents a resource, to its namespace, and to the
namespace's ``team`` label.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "hardening.cost/v1"
HOURS_PER_MONTH = 730.0
COST_MODEL_OUTPUT = "costModel"
NO_COMPONENT = "(stack)"
NO_TEAM = "(no team label)"
TEAM_LABEL = "team"  # components.conventions.LABEL_TEAM (not imported: this module stays stdlib-only)

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
REPLICASET = "kubernetes:apps/v1:ReplicaSet"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
POD = "kubernetes:core/v1:Pod"
JOB = "kubernetes:batch/v1:Job"
CRONJOB = "kubernetes:batch/v1:CronJob"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
SERVICE = "kubernetes:core/v1:Service"
NAMESPACE = "kubernetes:core/v1:Namespace"
LIMITRANGE = "kubernetes:core/v1:LimitRange"
HPA_TYPES = ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:autoscaling/v1:HorizontalPodAutoscaler")
REPLICATED = (DEPLOYMENT, REPLICASET, STATEFULSET, ROLLOUT)
UPSTREAM_TYPES = (
    "kubernetes:yaml/v2:ConfigFile",
    "kubernetes:yaml:ConfigFile",
    "kubernetes:yaml/v2:ConfigGroup",
    "kubernetes:yaml:ConfigGroup",
)
GIB = float(2**30)


class EstimateError(ValueError):
    """The plan (or a price table) cannot be estimated; the message names the place and the problem."""


# --------------------------------------------------------------------------------------------------
# Prices
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prices:
    """Unit prices (one currency) and the node count DaemonSets are multiplied by."""

    cpu_core_hourly: float
    memory_gib_hourly: float
    storage_gib_monthly: float
    load_balancer_hourly: float
    daemonset_nodes: int = 1
    currency: str = "USD"
    hours_per_month: float = HOURS_PER_MONTH
    increase_threshold_percent: float | None = None
    monthly_budget: float | None = None

    _KEYS = {  # camelCase key in the costModel output -> (field, required)
        "cpuCoreHourly": ("cpu_core_hourly", True),
        "memoryGibHourly": ("memory_gib_hourly", True),
        "storageGibMonthly": ("storage_gib_monthly", True),
        "loadBalancerHourly": ("load_balancer_hourly", True),
        "daemonSetNodes": ("daemonset_nodes", True),
        "currency": ("currency", False),
        "hoursPerMonth": ("hours_per_month", False),
        "increaseThresholdPercent": ("increase_threshold_percent", False),
        "monthlyBudget": ("monthly_budget", False),
    }

    def __post_init__(self) -> None:
        for name in ("cpu_core_hourly", "memory_gib_hourly", "storage_gib_monthly", "load_balancer_hourly"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e6:
                raise EstimateError(f"price {name} = {value!r} is invalid; accepted: a number from 0 to 1e6")
        if (
            isinstance(self.daemonset_nodes, bool)
            or not isinstance(self.daemonset_nodes, int)
            or self.daemonset_nodes < 1
        ):
            raise EstimateError(f"daemonset_nodes = {self.daemonset_nodes!r} is invalid; accepted: an integer >= 1")
        if not isinstance(self.hours_per_month, (int, float)) or not 0 < self.hours_per_month <= 744:
            raise EstimateError(f"hours_per_month = {self.hours_per_month!r} is invalid; accepted: 0 < h <= 744")
        if not isinstance(self.currency, str) or not re.fullmatch(r"[A-Z]{3}", self.currency):
            raise EstimateError(f"currency = {self.currency!r} is invalid; accepted: an ISO 4217 code such as USD")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, (attr, required) in self._KEYS.items():
            value = getattr(self, attr)
            if required or value is not None:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = COST_MODEL_OUTPUT) -> Prices:
        """Read the ``costModel`` stack output (as written by ``cost_model``)."""
        if not isinstance(data, Mapping):
            raise EstimateError(
                f"{where}: expected an object with keys {', '.join(cls._KEYS)}; got {type(data).__name__}"
            )
        unknown = sorted(set(data) - set(cls._KEYS))
        if unknown:
            raise EstimateError(f"{where}: unknown key(s) {', '.join(unknown)}; accepted: {', '.join(cls._KEYS)}")
        kwargs: dict[str, Any] = {}
        for key, (attr, required) in cls._KEYS.items():
            if key not in data:
                if required:
                    raise EstimateError(f"{where}.{key}: missing; accepted keys: {', '.join(cls._KEYS)}")
                continue
            value = data[key]
            if attr == "currency":
                kwargs[attr] = value
            elif attr == "daemonset_nodes":
                if isinstance(value, float) and value.is_integer():
                    value = int(value)  # the engine sends numbers as floats
                kwargs[attr] = value
            else:
                parsed = number(value)
                if parsed is None:
                    raise EstimateError(f"{where}.{key}: {value!r} is not a number")
                kwargs[attr] = parsed
        try:
            return cls(**kwargs)
        except EstimateError as exc:
            raise EstimateError(f"{where}: {exc}") from None


def number(value: Any) -> float | None:
    """A number from engine form (floats, ints or numeric strings), else None. Shared with the policy pack."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


# --------------------------------------------------------------------------------------------------
# Kubernetes quantities
# --------------------------------------------------------------------------------------------------
_QUANTITY = re.compile(r"^([+]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_FACTORS = {
    None: 1.0,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}


def quantity(value: Any, where: str) -> float:
    """A Kubernetes quantity (``250m``, ``1.5``, ``512Mi``, ``10Gi``, 2.0) as a float; EstimateError if malformed."""
    if isinstance(value, bool):
        raise EstimateError(f"{where}: {value!r} is not a Kubernetes quantity (e.g. 250m, 1, 512Mi, 10Gi)")
    if isinstance(value, (int, float)):
        if value < 0:
            raise EstimateError(f"{where}: {value!r} is negative")
        return float(value)
    if isinstance(value, str):
        m = _QUANTITY.match(value.strip())
        if m:
            return float(m.group(1)) * _FACTORS[m.group(2)]
    raise EstimateError(f"{where}: {value!r} is not a Kubernetes quantity (e.g. 250m, 1, 512Mi, 10Gi)")


# --------------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    """One priced resource. CPU/memory are per replica; storage and load balancers are totals."""

    urn: str
    type: str
    kind: str
    name: str
    namespace: str
    component: str
    team: str
    replicas: float = 0.0
    cpu_cores: float = 0.0
    memory_gib: float = 0.0
    storage_gib: float = 0.0
    load_balancers: int = 0
    cpu_monthly: float = 0.0
    memory_monthly: float = 0.0
    storage_monthly: float = 0.0
    load_balancer_monthly: float = 0.0
    notes: tuple[str, ...] = ()
    hpa_min: int | None = None  # the HorizontalPodAutoscaler's range, when one targets the workload
    hpa_max: int | None = None

    @property
    def monthly(self) -> float:
        return self.cpu_monthly + self.memory_monthly + self.storage_monthly + self.load_balancer_monthly

    def to_dict(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "component": self.component,
            "team": self.team,
            "replicas": self.replicas,
            "cpuCores": _r(self.cpu_cores),
            "memoryGib": _r(self.memory_gib),
            "storageGib": _r(self.storage_gib),
            "loadBalancers": self.load_balancers,
            "cpuMonthly": _r(self.cpu_monthly),
            "memoryMonthly": _r(self.memory_monthly),
            "storageMonthly": _r(self.storage_monthly),
            "loadBalancerMonthly": _r(self.load_balancer_monthly),
            "monthly": _r(self.monthly),
            "notes": list(self.notes),
            "hpa": None if self.hpa_min is None else {"minReplicas": self.hpa_min, "maxReplicas": self.hpa_max},
        }


@dataclass(frozen=True)
class Skipped:
    urn: str
    type: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"urn": self.urn, "type": self.type, "reason": self.reason}


@dataclass
class Group:
    """Totals of a component, namespace or team (CPU/memory are total requests over all replicas)."""

    monthly: float = 0.0
    cpu_cores: float = 0.0
    memory_gib: float = 0.0
    storage_gib: float = 0.0
    load_balancers: int = 0

    def add(self, line: Line) -> None:
        self.monthly += line.monthly
        self.cpu_cores += line.cpu_cores * line.replicas
        self.memory_gib += line.memory_gib * line.replicas
        self.storage_gib += line.storage_gib
        self.load_balancers += line.load_balancers

    def to_dict(self) -> dict[str, Any]:
        return {
            "monthly": _r(self.monthly),
            "cpuCores": _r(self.cpu_cores),
            "memoryGib": _r(self.memory_gib),
            "storageGib": _r(self.storage_gib),
            "loadBalancers": self.load_balancers,
        }


def _r(x: float) -> float:
    return round(x, 6)


@dataclass
class Estimate:
    project: str
    stack: str
    prices: Prices
    lines: list[Line] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def _group(self, key: str) -> dict[str, Group]:
        out: dict[str, Group] = {}
        for line in self.lines:
            out.setdefault(getattr(line, key), Group()).add(line)
        return dict(sorted(out.items()))

    @property
    def total(self) -> Group:
        g = Group()
        for line in self.lines:
            g.add(line)
        return g

    @property
    def monthly(self) -> float:
        return self.total.monthly

    @property
    def by_component(self) -> dict[str, Group]:
        return self._group("component")

    @property
    def by_namespace(self) -> dict[str, Group]:
        return self._group("namespace")

    @property
    def by_team(self) -> dict[str, Group]:
        return self._group("team")

    def to_dict(self) -> dict[str, Any]:
        total = self.total
        return {
            "schema": SCHEMA,
            "project": self.project,
            "stack": self.stack,
            "currency": self.prices.currency,
            "prices": self.prices.to_dict(),
            "monthly": _r(total.monthly),
            "total": total.to_dict(),
            "byComponent": {k: v.to_dict() for k, v in self.by_component.items()},
            "byNamespace": {k: v.to_dict() for k, v in self.by_namespace.items()},
            "byTeam": {k: v.to_dict() for k, v in self.by_team.items()},
            "lines": [line.to_dict() for line in self.lines],
            "skipped": [s.to_dict() for s in self.skipped],
        }

    def format_text(self) -> str:
        p, total, cur = self.prices, self.total, self.prices.currency
        out = [
            f"cost estimate ({self.stack}): {money(total.monthly, cur)} per month",
            f"  requests: {total.cpu_cores:.3g} vCPU, {total.memory_gib:.3g} GiB memory, "
            f"{total.storage_gib:g} GiB storage, {total.load_balancers} load balancer(s)",
            f"  prices: vCPU {p.cpu_core_hourly:g}/h, memory {p.memory_gib_hourly:g}/GiB-h, storage "
            f"{p.storage_gib_monthly:g}/GiB-month, load balancer {p.load_balancer_hourly:g}/h ({cur}); "
            f"{p.hours_per_month:g} h/month; DaemonSets x {p.daemonset_nodes} node(s)",
        ]
        for title, groups in (
            ("component", self.by_component),
            ("namespace", self.by_namespace),
            ("team", self.by_team),
        ):
            out.append(f"  by {title}:")
            width = max((len(k) for k in groups), default=0)
            for key, g in sorted(groups.items(), key=lambda kv: (-kv[1].monthly, kv[0])):
                out.append(
                    f"    {key:<{width}}  {money(g.monthly, cur):>10}   {g.cpu_cores:.3g} vCPU, "
                    f"{g.memory_gib:.3g} GiB, {g.storage_gib:g} GiB disk"
                )
        if self.skipped:
            out.append(f"  not priced: {len(self.skipped)} resource(s) (see cost.json 'skipped')")
        return "\n".join(out)


def money(amount: float, currency: str = "USD") -> str:
    sign = "-" if round(amount, 2) < 0 else ""
    symbol = "$" if currency == "USD" else ""
    suffix = "" if symbol else f" {currency}"
    return f"{sign}{symbol}{abs(amount):,.2f}{suffix}"


# --------------------------------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Res:
    urn: str
    type: str
    name: str
    parent: str | None
    inputs: Mapping[str, Any]

    @property
    def meta(self) -> Mapping[str, Any]:
        m = self.inputs.get("metadata")
        return m if isinstance(m, Mapping) else {}

    @property
    def k8s_name(self) -> str:
        return str(self.meta.get("name") or self.name)

    @property
    def namespace(self) -> str:
        return str(self.meta.get("namespace") or "default")

    @property
    def kind(self) -> str:
        return str(self.inputs.get("kind") or self.type.rsplit(":", 1)[-1])


def _records(resources: Iterable[Any], source: str) -> list[_Res]:
    out: list[_Res] = []
    for i, r in enumerate(resources):
        where = f"{source}: resources[{i}]"
        if not isinstance(r, Mapping):
            raise EstimateError(
                f"{where}: expected an object with urn, type, name, parent, inputs; got {type(r).__name__}"
            )
        for key in ("urn", "type"):
            if not isinstance(r.get(key), str) or not r.get(key):
                raise EstimateError(f"{where}: '{key}' is missing or not a string")
        inputs = r.get("inputs")
        if inputs is None:
            inputs = {}
        if not isinstance(inputs, Mapping):
            raise EstimateError(f"{where} ({r['urn']}): 'inputs' must be an object, got {type(inputs).__name__}")
        parent = r.get("parent")
        out.append(
            _Res(r["urn"], r["type"], str(r.get("name") or ""), parent if isinstance(parent, str) else None, inputs)
        )
    return out


def _dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _component_of(res: _Res, by_urn: Mapping[str, _Res]) -> str:
    found: _Res | None = None
    cur: _Res | None = res
    seen: set[str] = set()
    while cur is not None and cur.urn not in seen:
        seen.add(cur.urn)
        if cur.type.startswith("hardening:"):
            found = cur
        cur = by_urn.get(cur.parent) if cur.parent else None
    if found is None:
        return NO_COMPONENT
    return f"{found.type.rsplit(':', 1)[-1]}/{found.name}"


@dataclass(frozen=True)
class _Defaults:
    """A namespace's LimitRange defaults for containers: resource -> quantity (as text)."""

    request: Mapping[str, Any]
    limit: Mapping[str, Any]


def _limit_ranges(records: Sequence[_Res]) -> dict[str, _Defaults]:
    out: dict[str, _Defaults] = {}
    for r in sorted((r for r in records if r.type == LIMITRANGE), key=lambda r: r.urn):
        for item in _dig(r.inputs, "spec", "limits") or []:
            if not isinstance(item, Mapping) or item.get("type", "Container") != "Container":
                continue
            if r.namespace in out:
                continue
            req = item.get("defaultRequest")
            lim = item.get("default")
            out[r.namespace] = _Defaults(
                dict(req) if isinstance(req, Mapping) else {}, dict(lim) if isinstance(lim, Mapping) else {}
            )
    return out


def _container_request(
    c: Mapping[str, Any], resource: str, defaults: _Defaults | None, where: str, notes: list[str]
) -> float:
    """What the API server makes of a container's request for ``resource`` (cpu or memory)."""
    requests = _dig(c, "resources", "requests") or {}
    limits = _dig(c, "resources", "limits") or {}
    if isinstance(requests, Mapping) and requests.get(resource) is not None:
        return quantity(requests[resource], f"{where}.resources.requests.{resource}")
    if isinstance(limits, Mapping) and limits.get(resource) is not None:
        notes.append(f"{c.get('name')}: no {resource} request, the API server sets it to the limit")
        return quantity(limits[resource], f"{where}.resources.limits.{resource}")
    if defaults is not None:
        for source, values in (("defaultRequest", defaults.request), ("default", defaults.limit)):
            if values.get(resource) is not None:
                notes.append(f"{c.get('name')}: no {resource} request, LimitRange {source} applies")
                return quantity(values[resource], f"LimitRange {source}.{resource}")
    notes.append(f"{c.get('name')}: no {resource} request and no LimitRange in its namespace: counted as 0")
    return 0.0


def pod_requests(
    spec: Mapping[str, Any], defaults: _Defaults | None, where: str, notes: list[str] | None = None
) -> tuple[float, float]:
    """Effective (CPU cores, memory bytes) a pod requests, as the scheduler computes it.

    ``max(sum(app containers) + sum(restartable init containers), peak of the init phase)`` where an init
    container's peak is its own request plus the restartable (sidecar) init containers started before it.
    """
    notes = notes if notes is not None else []
    totals = []
    for resource in ("cpu", "memory"):
        sidecars = 0.0
        init_peak = 0.0
        for i, c in enumerate(spec.get("initContainers") or []):
            if not isinstance(c, Mapping):
                continue
            req = _container_request(c, resource, defaults, f"{where}.initContainers[{i}]", notes)
            if c.get("restartPolicy") == "Always":
                sidecars += req
                init_peak = max(init_peak, sidecars)
            else:
                init_peak = max(init_peak, sidecars + req)
        app = 0.0
        for i, c in enumerate(spec.get("containers") or []):
            if isinstance(c, Mapping):
                app += _container_request(c, resource, defaults, f"{where}.containers[{i}]", notes)
        totals.append(max(app + sidecars, init_peak))
    return totals[0], totals[1]


def _hpa_min_replicas(records: Sequence[_Res]) -> dict[tuple[str, str, str], tuple[int, int | None]]:
    """(namespace, kind, name) -> (minReplicas, maxReplicas) of the HPAs in the plan."""
    out: dict[tuple[str, str, str], tuple[int, int | None]] = {}
    for r in records:
        if r.type not in HPA_TYPES:
            continue
        target = _dig(r.inputs, "spec", "scaleTargetRef") or {}
        lo = number(_dig(r.inputs, "spec", "minReplicas"))
        hi = number(_dig(r.inputs, "spec", "maxReplicas"))
        if isinstance(target, Mapping) and target.get("kind") and target.get("name"):
            out[(r.namespace, str(target["kind"]), str(target["name"]))] = (
                int(lo) if lo is not None else 1,
                int(hi) if hi is not None else None,
            )
    return out


def _namespace_teams(records: Iterable[_Res]) -> dict[str, str]:
    """Namespace name -> its team label (``NO_TEAM`` without one)."""
    teams: dict[str, str] = {}
    for r in records:
        if r.type == NAMESPACE:
            labels = r.meta.get("labels") if isinstance(r.meta.get("labels"), Mapping) else {}
            team = labels.get(TEAM_LABEL) if isinstance(labels, Mapping) else None
            teams[r.k8s_name] = str(team) if team else NO_TEAM
    return teams


def _pod_spec(r: _Res, deployments: Mapping[tuple[str, str], _Res], notes: list[str]) -> tuple[Any, str]:
    """The pod spec a workload runs and where it is (a Rollout with a workloadRef runs its Deployment's)."""
    where = f"{r.urn}"
    if r.type == POD:
        return r.inputs.get("spec"), f"{where}: spec"
    spec = _dig(r.inputs, "spec", "template", "spec")
    spec_where = f"{where}: spec.template.spec"
    ref = _dig(r.inputs, "spec", "workloadRef")
    if spec is None and r.type == ROLLOUT and isinstance(ref, Mapping):
        target = deployments.get((r.namespace, str(ref.get("name"))))
        if target is None:
            raise EstimateError(
                f"{where}: spec.workloadRef names Deployment {ref.get('name')!r}, "
                f"which is not in the plan (namespace {r.namespace})"
            )
        spec = _dig(target.inputs, "spec", "template", "spec")
        spec_where = f"{target.urn}: spec.template.spec"
        notes.append(f"pod template from Deployment {ref.get('name')} (workloadRef)")
    return spec, spec_where


def estimate_resources(
    resources: Iterable[Mapping[str, Any]], prices: Prices, *, project: str = "", stack: str = "", source: str = "plan"
) -> Estimate:
    """Estimate resource records (``{"urn", "type", "name", "parent", "inputs"}``, inputs in engine form:
    camelCase Kubernetes manifests) with ``prices``. The policy pack calls this directly."""
    records = _records(resources, source)
    by_urn = {r.urn: r for r in records}
    limit_ranges = _limit_ranges(records)
    hpas = _hpa_min_replicas(records)
    teams = _namespace_teams(records)
    deployments = {(r.namespace, r.k8s_name): r for r in records if r.type == DEPLOYMENT}
    hours = prices.hours_per_month
    est = Estimate(project=project, stack=stack, prices=prices)

    for r in sorted(records, key=lambda r: r.urn):
        where = f"{r.urn}"
        base: dict[str, Any] = {
            "urn": r.urn,
            "type": r.type,
            "kind": r.kind,
            "name": r.k8s_name,
            "namespace": r.namespace,
            "component": _component_of(r, by_urn),
            "team": teams.get(r.namespace, NO_TEAM),
        }
        if r.type in REPLICATED or r.type in (DAEMONSET, POD):
            notes: list[str] = []
            spec, spec_where = _pod_spec(r, deployments, notes)
            if not isinstance(spec, Mapping):
                raise EstimateError(f"{spec_where}: missing; a {r.kind} needs a pod spec to be priced")
            replicas = _replicas(r, hpas, prices, notes)
            hpa = hpas.get((r.namespace, r.kind, r.k8s_name)) if r.type in REPLICATED else None
            cpu, mem = pod_requests(spec, limit_ranges.get(r.namespace), spec_where, notes)
            storage = 0.0
            if r.type == STATEFULSET:
                for i, t in enumerate(_dig(r.inputs, "spec", "volumeClaimTemplates") or []):
                    size = _dig(t, "spec", "resources", "requests", "storage")
                    if size is not None:
                        storage += (
                            quantity(size, f"{where}: spec.volumeClaimTemplates[{i}].spec.resources.requests.storage")
                            / GIB
                        )
                storage *= replicas
            mem_gib = mem / GIB
            est.lines.append(
                Line(
                    **base,
                    replicas=replicas,
                    cpu_cores=cpu,
                    memory_gib=mem_gib,
                    storage_gib=storage,
                    cpu_monthly=replicas * cpu * prices.cpu_core_hourly * hours,
                    memory_monthly=replicas * mem_gib * prices.memory_gib_hourly * hours,
                    storage_monthly=storage * prices.storage_gib_monthly,
                    notes=tuple(dict.fromkeys(notes)),
                    hpa_min=hpa[0] if hpa else None,
                    hpa_max=hpa[1] if hpa else None,
                )
            )
        elif r.type == PVC:
            size = _dig(r.inputs, "spec", "resources", "requests", "storage")
            if size is None:
                raise EstimateError(f"{where}: spec.resources.requests.storage is missing")
            gib = quantity(size, f"{where}: spec.resources.requests.storage") / GIB
            est.lines.append(Line(**base, storage_gib=gib, storage_monthly=gib * prices.storage_gib_monthly))
        elif r.type == SERVICE and _dig(r.inputs, "spec", "type") == "LoadBalancer":
            est.lines.append(Line(**base, load_balancers=1, load_balancer_monthly=prices.load_balancer_hourly * hours))
        elif r.type in (JOB, CRONJOB):
            est.skipped.append(Skipped(r.urn, r.type, "runs to completion; its schedule decides the cost"))
        elif r.type in UPSTREAM_TYPES or r.type.startswith("kubernetes:helm"):
            est.skipped.append(Skipped(r.urn, r.type, "upstream manifest or chart: its objects are not in the plan"))
    return est


def _replicas(
    r: _Res, hpas: Mapping[tuple[str, str, str], tuple[int, int | None]], prices: Prices, notes: list[str]
) -> float:
    if r.type == DAEMONSET:
        notes.append(f"DaemonSet: one pod on each of {prices.daemonset_nodes} node(s)")
        return float(prices.daemonset_nodes)
    if r.type == POD:
        return 1.0
    raw = _dig(r.inputs, "spec", "replicas")
    hpa = hpas.get((r.namespace, r.kind, r.k8s_name))
    if raw is None:
        if hpa is not None:
            notes.append(f"replicas from the HPA's minReplicas ({hpa[0]}); it may scale to {hpa[1]}")
            return float(hpa[0])
        return 1.0
    n = number(raw)
    if n is None or n < 0 or not float(n).is_integer():
        raise EstimateError(f"{r.urn}: spec.replicas = {raw!r} is not a whole number")
    if hpa is not None and hpa[1] is not None:
        notes.append(f"an HPA may scale it from {hpa[0]} to {hpa[1]} replicas")
    return n


def prices_from_plan(plan: Mapping[str, Any], source: str = "plan.json") -> Prices:
    outputs = plan.get("outputs")
    if not isinstance(outputs, Mapping) or COST_MODEL_OUTPUT not in outputs:
        raise EstimateError(
            f"{source}: outputs.{COST_MODEL_OUTPUT} is missing; the CostVisibility component "
            "exports the unit prices there (is it in __main__.py, and is this a plan.json from "
            "`python -m tools.render`?)"
        )
    return Prices.from_dict(outputs[COST_MODEL_OUTPUT], f"{source}: outputs.{COST_MODEL_OUTPUT}")


def estimate_plan(plan: Mapping[str, Any], prices: Prices | None = None, *, source: str = "plan.json") -> Estimate:
    """Estimate a rendered ``plan.json`` (``{"project", "stack", "resources": [...], "outputs": {...}}``).

    Prices come from ``outputs.costModel`` unless ``prices`` is given. Raises EstimateError naming the
    offending place when the plan is malformed.
    """
    if not isinstance(plan, Mapping):
        raise EstimateError(
            f"{source}: expected a JSON object with project, stack, resources, outputs; got {type(plan).__name__}"
        )
    resources = plan.get("resources")
    if not isinstance(resources, list):
        raise EstimateError(f"{source}: 'resources' is missing or not a list")
    prices = prices or prices_from_plan(plan, source)
    return estimate_resources(
        resources, prices, project=str(plan.get("project") or ""), stack=str(plan.get("stack") or ""), source=source
    )


def load_json(path: Any) -> Any:
    """Read a JSON file; EstimateError naming the file when it is missing or not JSON."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise EstimateError(f"{p}: no such file")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise EstimateError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EstimateError(f"{p}: cannot be read ({exc})") from None
