"""Compare two cost estimates: the pull-request comment (Markdown), JSON and the threshold check.

Pure and standard library only. Amounts are compared in cents, so "exactly 20 %" is exactly 20 % (not
above a 20 % threshold). An increase from zero is above any threshold.

The comment follows what Infracost's pull-request comment made familiar: every changed resource with the
attribute that moved (replicas, CPU or memory request, volume size, load balancer, HPA range) before and
after, and its monthly delta; the unchanged resources in one line; the total with its percentage; the
budget state; the resources that could not be priced and why; an HPA's range as a min-max cost; the
per-component table in a collapsible ``<details>``. Its first line is ``MARKER``, a hidden HTML comment
the preview workflow looks for to update its one comment per pull request instead of adding another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from components.cost.estimate import SCHEMA, EstimateError, money

MARKER = "<!-- hardening-cost-estimate -->"
DASH = "\u2013"  # the en dash of a range: 3\u201310 replicas
ZERO_NOTE = "counted as 0"  # estimate.py's note for a container without any request


def _cents(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EstimateError(f"{where}: {value!r} is not a number")
    return int((Decimal(str(value)) * 100).quantize(Decimal(1)))


def _summary(est: Mapping[str, Any], where: str) -> tuple[str, str, int, dict[str, int]]:
    if not isinstance(est, Mapping) or est.get("schema") != SCHEMA:
        raise EstimateError(f"{where}: not a cost estimate (expected schema {SCHEMA!r})")
    comps = est.get("byComponent")
    if not isinstance(comps, Mapping):
        raise EstimateError(f"{where}: 'byComponent' is missing or not an object")
    by = {
        str(k): _cents(
            (v or {}).get("monthly") if isinstance(v, Mapping) else None, f"{where}: byComponent.{k}.monthly"
        )
        for k, v in comps.items()
    }
    return (
        str(est.get("stack") or ""),
        str(est.get("currency") or "USD"),
        _cents(est.get("monthly"), f"{where}: monthly"),
        by,
    )


# --- resources ----------------------------------------------------------------------------------------
def _cpu(cores: float) -> str:
    milli = cores * 1000
    return f"{milli:g}m" if cores < 1 and abs(milli - round(milli)) < 1e-6 else f"{cores:g}"


def _mem(gib: float) -> str:
    mib = gib * 1024
    return f"{mib:g}Mi" if gib < 1 and abs(mib - round(mib)) < 1e-6 else f"{gib:g}Gi"


@dataclass(frozen=True)
class Priced:
    """One priced resource of an estimate (a ``lines`` entry), with what the comment shows of it."""

    kind: str
    namespace: str
    name: str
    component: str
    cents: int
    pod_cents: int  # CPU + memory, all replicas (what an HPA scales)
    replicas: float
    attributes: tuple[tuple[str, str], ...]  # (attribute, shown value), only those that apply
    hpa: tuple[int, int | None] | None
    zero_requests: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)

    @property
    def label(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} `{_md(where)}`"

    def cost_at(self, replicas: int) -> int:
        """Monthly cents with ``replicas`` pods (storage and load balancers unchanged)."""
        if not self.replicas:
            return self.cents
        return self.cents - self.pod_cents + round(self.pod_cents * replicas / self.replicas)


def _priced(line: Mapping[str, Any], where: str) -> Priced:
    def num(key: str) -> float:
        value = line.get(key, 0) or 0
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EstimateError(f"{where}.{key}: {value!r} is not a number")
        return float(value)

    replicas, cpu, mem, disk, lbs = (
        num(k) for k in ("replicas", "cpuCores", "memoryGib", "storageGib", "loadBalancers")
    )
    attrs: list[tuple[str, str]] = []
    if replicas:
        attrs += [("replicas", f"{replicas:g}"), ("CPU request", _cpu(cpu)), ("memory request", _mem(mem))]
    if disk:
        attrs.append(("volume", f"{disk:g} GiB"))
    if lbs:
        attrs.append(("load balancer", f"{lbs:g}"))
    raw_hpa = line.get("hpa")
    hpa = None
    if isinstance(raw_hpa, Mapping) and isinstance(raw_hpa.get("minReplicas"), int):
        hi = raw_hpa.get("maxReplicas")
        hpa = (int(raw_hpa["minReplicas"]), int(hi) if isinstance(hi, int) else None)
        attrs.append(("HPA", f"{hpa[0]}{DASH}{hpa[1] if hpa[1] is not None else '?'}"))
    return Priced(
        kind=str(line.get("kind") or line.get("type") or "?"),
        namespace=str(line.get("namespace") or ""),
        name=str(line.get("name") or "?"),
        component=str(line.get("component") or ""),
        cents=_cents(line.get("monthly"), f"{where}.monthly"),
        pod_cents=_cents(num("cpuMonthly") + num("memoryMonthly"), f"{where}.cpuMonthly"),
        replicas=replicas,
        attributes=tuple(attrs),
        hpa=hpa,
        zero_requests=tuple(str(n) for n in line.get("notes") or () if ZERO_NOTE in str(n)),
    )


def _lines(est: Mapping[str, Any], where: str) -> dict[tuple[str, str, str], Priced]:
    raw = est.get("lines")
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise EstimateError(f"{where}: 'lines' is not a list")
    out: dict[tuple[str, str, str], Priced] = {}
    for i, line in enumerate(raw):
        if not isinstance(line, Mapping):
            raise EstimateError(f"{where}: lines[{i}] is not an object")
        p = _priced(line, f"{where}: lines[{i}]")
        out[p.key] = p
    return out


@dataclass(frozen=True)
class Change:
    action: str  # "+" added, "-" removed, "~" changed
    base: Priced | None
    head: Priced | None
    moved: tuple[tuple[str, str, str], ...]  # (attribute, before, after)

    @property
    def subject(self) -> Priced:
        found = self.head or self.base
        assert found is not None
        return found

    @property
    def delta(self) -> int:
        return (self.head.cents if self.head else 0) - (self.base.cents if self.base else 0)


def _changes(base: Mapping[tuple[str, str, str], Priced], head: Mapping[tuple[str, str, str], Priced]) -> list[Change]:
    out: list[Change] = []
    for key in sorted(set(base) | set(head)):
        b, h = base.get(key), head.get(key)
        if b is None and h is not None:
            out.append(Change("+", None, h, tuple((a, "—", v) for a, v in h.attributes)))
        elif h is None and b is not None:
            out.append(Change("-", b, None, tuple((a, v, "—") for a, v in b.attributes)))
        elif b is not None and h is not None:
            before, after = dict(b.attributes), dict(h.attributes)
            moved = tuple(
                (a, before.get(a, "—"), after.get(a, "—"))
                for a in dict.fromkeys([*before, *after])
                if before.get(a) != after.get(a)
            )
            if not moved and b.cents != h.cents:
                moved = (("unit prices", money(b.cents / 100), money(h.cents / 100)),)
            if moved:
                out.append(Change("~", b, h, moved))
    return out


def _md(text: str) -> str:
    """Text for a Markdown table cell or inline code: no pipe, backtick, angle bracket or newline survives."""
    return (
        str(text)
        .replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("`", "'")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\n", " ")
    )


# --- the comparison -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CostDiff:
    stack: str
    currency: str
    base_cents: int
    head_cents: int
    base: dict[str, int]
    head: dict[str, int]
    threshold_percent: float
    base_stack: str = ""
    changes: tuple[Change, ...] = ()
    unchanged: int = 0  # resources priced the same on both sides
    unchanged_cents: int = 0
    budget: float | None = None  # HEAD's monthly budget
    not_priced: tuple[tuple[str, str], ...] = ()  # (resource, why) on HEAD
    hpa: tuple[Priced, ...] = field(default=())  # HEAD's workloads an HPA scales
    detailed: bool = True  # both sides carried per-resource lines

    @property
    def change_cents(self) -> int:
        return self.head_cents - self.base_cents

    @property
    def percent(self) -> float | None:
        """Change in percent of the base; None when the base is zero."""
        if self.base_cents == 0:
            return None
        return self.change_cents * 100 / self.base_cents

    @property
    def exceeded(self) -> bool:
        """The increase is strictly above the threshold (exact arithmetic on cents)."""
        if self.change_cents <= 0:
            return False
        if self.base_cents == 0:
            return True
        return Decimal(self.change_cents) * 100 > Decimal(str(self.threshold_percent)) * self.base_cents

    @property
    def over_budget(self) -> bool:
        return self.budget is not None and Decimal(self.head_cents) > Decimal(str(self.budget)) * 100

    @property
    def added(self) -> list[str]:
        return sorted(set(self.head) - set(self.base))

    @property
    def removed(self) -> list[str]:
        return sorted(set(self.base) - set(self.head))

    @property
    def hpa_range_cents(self) -> tuple[int, int] | None:
        """The stack's monthly cost with every HPA at its minimum and at its maximum."""
        if not self.hpa:
            return None
        lo = self.head_cents + sum(p.cost_at(p.hpa[0]) - p.cents for p in self.hpa if p.hpa)
        hi = self.head_cents + sum(p.cost_at(p.hpa[1]) - p.cents for p in self.hpa if p.hpa and p.hpa[1] is not None)
        return lo, hi

    @property
    def title(self) -> str:
        if self.base_stack and self.base_stack != self.stack:
            return f"### Cost estimate: stack `{_md(self.base_stack)}` → stack `{_md(self.stack)}`"
        return f"### Cost estimate: stack `{_md(self.stack)}`"

    def _m(self, cents: int) -> str:
        return money(cents / 100, self.currency)

    def _signed(self, cents: int) -> str:
        return ("+" if cents > 0 else "") + self._m(cents) if cents else self._m(0)

    def _pct(self, base: int, head: int) -> str:
        if base == 0:
            return "new" if head else "0 %"
        return f"{(head - base) * 100 / base:+.1f} %"

    def _budget_line(self) -> str:
        if self.budget is None:
            return "Budget: none set (`costMonthlyBudget`)."
        used = f"{self.head_cents / self.budget:.1f} % of the {money(self.budget, self.currency)} monthly budget"
        if self.over_budget:
            over = self.head_cents - round(self.budget * 100)
            return f"Budget: **over by {self._m(over)}** ({used})."
        return f"Budget: within ({used})."

    def _changes_table(self) -> list[str]:
        out = ["| | Resource | What changed | Monthly |", "| :-: | --- | --- | ---: |"]
        for c in sorted(self.changes, key=lambda c: (-abs(c.delta), c.subject.key)):
            moved = "<br>".join(
                f"{_md(a)} {_md(b)} → {_md(h)}" if c.action == "~" else f"{_md(a)} {_md(h if c.action == '+' else b)}"
                for a, b, h in c.moved
            ) or ("added" if c.action == "+" else "removed")
            if c.action == "+":
                moved = "added: " + moved
            elif c.action == "-":
                moved = "removed: " + moved
            before = self._m(c.base.cents) if c.base else "—"
            after = self._m(c.head.cents) if c.head else "—"
            out.append(
                f"| {c.action} | {c.subject.label} | {moved} | {before} → {after} (**{self._signed(c.delta)}**) |"
            )
        out.append("")
        return out

    def _hpa_lines(self) -> list[str]:
        hpa_range = self.hpa_range_cents
        if hpa_range is None:
            return []
        out: list[str] = []
        out.append(
            f"Autoscaling: {self._m(hpa_range[0])}{DASH}{self._m(hpa_range[1])} per month with every HPA at its "
            f"minimum{DASH}maximum:"
        )
        for p in self.hpa:
            assert p.hpa is not None
            hi = f"{self._m(p.cost_at(p.hpa[1]))}" if p.hpa[1] is not None else "?"
            out.append(
                f"- {p.label}: {p.hpa[0]}{DASH}{p.hpa[1] if p.hpa[1] is not None else '?'} replicas, "
                f"{self._m(p.cost_at(p.hpa[0]))}{DASH}{hi} (now {p.replicas:g}: {self._m(p.cents)})"
            )
        out.append("")
        return out

    def to_markdown(self) -> str:
        pct = self._pct(self.base_cents, self.head_cents)
        out = [MARKER, self.title, ""]
        if self.base_stack and self.base_stack != self.stack:
            out += [f"Comparing two stacks: `{_md(self.base_stack)}` (before) and `{_md(self.stack)}` (after).", ""]
        out += [
            f"**{self._m(self.base_cents)} → {self._m(self.head_cents)} per month "
            f"({self._signed(self.change_cents)}, {pct})** · {self._budget_line()}",
            "",
        ]
        if self.exceeded:
            out += [
                "> [!WARNING]",
                f"> This change raises the monthly estimate by {pct}, above the {self.threshold_percent:g} % "
                "threshold. The resources below show which requests, replicas, volumes or load balancers moved.",
                "",
            ]
        if self.over_budget:
            out += ["> [!CAUTION]", f"> The new estimate is above the stack's budget. {self._budget_line()}", ""]
        if self.changes:
            out += self._changes_table()
        elif self.detailed:
            out += ["No priced resource changed.", ""]
        if not self.detailed:
            out += ["Per-resource detail unavailable: an estimate without `lines` (re-render it with this code).", ""]
        if self.unchanged:
            out += [f"{self.unchanged} resource(s) unchanged ({self._m(self.unchanged_cents)} per month).", ""]
        out += self._hpa_lines()
        if self.not_priced:
            out.append(f"Not priced ({len(self.not_priced)}):")
            out += [f"- {resource}: {_md(why)}" for resource, why in self.not_priced]
            out.append("")
        out += [
            "<details><summary>By component</summary>",
            "",
            "| Component | Previous | New | Difference |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name in sorted(set(self.base) | set(self.head)):
            b, h = self.base.get(name, 0), self.head.get(name, 0)
            prev = self._m(b) if name in self.base else "—"
            new = self._m(h) if name in self.head else "—"
            out.append(f"| {_md(name)} | {prev} | {new} | {self._signed(h - b)} ({self._pct(b, h)}) |")
        out.append(
            f"| **Total** | **{self._m(self.base_cents)}** | **{self._m(self.head_cents)}** | "
            f"**{self._signed(self.change_cents)}** ({pct}) |"
        )
        out.append("")
        if self.added:
            out.append("Added components: " + ", ".join(f"`{_md(n)}` ({self._m(self.head[n])})" for n in self.added))
        if self.removed:
            out.append(
                "Removed components: " + ", ".join(f"`{_md(n)}` ({self._m(self.base[n])})" for n in self.removed)
            )
        if self.added or self.removed:
            out.append("")
        out += [
            "</details>",
            "",
            "Monthly estimate from CPU/memory requests, volumes and load balancers at the stack's OpenCost "
            "prices (`python -m tools.cost`, docs/COST_GUIDE.md).",
        ]
        return "\n".join(out) + "\n"

    def to_dict(self) -> dict[str, Any]:
        hpa_range = self.hpa_range_cents
        return {
            "stack": self.stack,
            "baseStack": self.base_stack or self.stack,
            "currency": self.currency,
            "previousMonthly": self.base_cents / 100,
            "newMonthly": self.head_cents / 100,
            "changeMonthly": self.change_cents / 100,
            "changePercent": None if self.percent is None else round(self.percent, 4),
            "thresholdPercent": self.threshold_percent,
            "exceeded": self.exceeded,
            "budget": self.budget,
            "overBudget": self.over_budget,
            "components": {
                n: {
                    "previous": self.base.get(n, 0) / 100 if n in self.base else None,
                    "new": self.head.get(n, 0) / 100 if n in self.head else None,
                    "change": (self.head.get(n, 0) - self.base.get(n, 0)) / 100,
                }
                for n in sorted(set(self.base) | set(self.head))
            },
            "added": self.added,
            "removed": self.removed,
            "resources": [
                {
                    "action": c.action,
                    "kind": c.subject.kind,
                    "namespace": c.subject.namespace,
                    "name": c.subject.name,
                    "changed": [{"attribute": a, "before": b, "after": h} for a, b, h in c.moved],
                    "previous": c.base.cents / 100 if c.base else None,
                    "new": c.head.cents / 100 if c.head else None,
                    "change": c.delta / 100,
                }
                for c in self.changes
            ],
            "unchanged": {"resources": self.unchanged, "monthly": self.unchanged_cents / 100},
            "autoscaling": None if hpa_range is None else {"min": hpa_range[0] / 100, "max": hpa_range[1] / 100},
            "notPriced": [{"resource": r, "reason": why} for r, why in self.not_priced],
        }


def _not_priced(est: Mapping[str, Any], lines: Mapping[tuple[str, str, str], Priced]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for s in est.get("skipped") or ():
        if isinstance(s, Mapping):
            urn = str(s.get("urn") or "")
            out.append(
                (f"{str(s.get('type') or '').split(':')[-1]} `{_md(urn.split('::')[-1])}`", str(s.get("reason")))
            )
    for p in lines.values():
        for note in p.zero_requests:
            out.append((p.label, f"priced as zero: {note}"))
    return tuple(out)


def compare(
    base: Mapping[str, Any],
    head: Mapping[str, Any],
    threshold_percent: float = 20.0,
    *,
    base_name: str = "BASE",
    head_name: str = "HEAD",
) -> CostDiff:
    """Compare two ``Estimate.to_dict()`` documents."""
    if (
        isinstance(threshold_percent, bool)
        or not isinstance(threshold_percent, (int, float))
        or not 0 <= threshold_percent <= 100000
    ):
        raise EstimateError(f"threshold = {threshold_percent!r} is invalid; accepted: a percentage >= 0")
    base_stack, currency, base_total, base_by = _summary(base, base_name)
    stack, head_currency, head_total, head_by = _summary(head, head_name)
    if currency != head_currency:
        raise EstimateError(f"{base_name} is in {currency} but {head_name} in {head_currency}; accepted: one currency")
    base_lines, head_lines = _lines(base, base_name), _lines(head, head_name)
    detailed = base.get("lines") is not None and head.get("lines") is not None
    # without lines on one side, every resource of the other would look added or removed: totals only
    changes = _changes(base_lines, head_lines) if detailed else []
    changed = {c.subject.key for c in changes}
    same = [p for k, p in head_lines.items() if k not in changed] if detailed else []
    budget = (head.get("prices") or {}).get("monthlyBudget") if isinstance(head.get("prices"), Mapping) else None
    return CostDiff(
        stack,
        currency,
        base_total,
        head_total,
        base_by,
        head_by,
        float(threshold_percent),
        base_stack=base_stack,
        changes=tuple(changes),
        unchanged=len(same),
        # the rest of the total (not a sum of rounded lines): the table and this line add up to the total
        unchanged_cents=head_total - sum(c.head.cents for c in changes if c.head) if same else 0,
        budget=float(budget) if isinstance(budget, (int, float)) and not isinstance(budget, bool) else None,
        not_priced=_not_priced(head, head_lines),
        hpa=tuple(sorted((p for p in head_lines.values() if p.hpa), key=lambda p: p.key)),
        detailed=detailed,
    )
