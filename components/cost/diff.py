"""Compare two cost estimates: the pull-request comment (Markdown), JSON and the threshold check.

Pure and standard library only. Amounts are compared in cents, so "exactly 20 %" is exactly 20 % (not
above a 20 % threshold). An increase from zero is above any threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from components.cost.estimate import SCHEMA, EstimateError, money

MARKER = "<!-- hardening-cost-estimate -->"


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


@dataclass(frozen=True)
class CostDiff:
    stack: str
    currency: str
    base_cents: int
    head_cents: int
    base: dict[str, int]
    head: dict[str, int]
    threshold_percent: float

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
    def added(self) -> list[str]:
        return sorted(set(self.head) - set(self.base))

    @property
    def removed(self) -> list[str]:
        return sorted(set(self.base) - set(self.head))

    def _m(self, cents: int) -> str:
        return money(cents / 100, self.currency)

    def _signed(self, cents: int) -> str:
        return ("+" if cents > 0 else "") + self._m(cents) if cents else self._m(0)

    def _pct(self, base: int, head: int) -> str:
        if base == 0:
            return "new" if head else "0 %"
        return f"{(head - base) * 100 / base:+.1f} %"

    def to_markdown(self) -> str:
        pct = self._pct(self.base_cents, self.head_cents)
        out = [
            MARKER,
            f"### Cost estimate: stack `{self.stack}`",
            "",
            f"**{self._m(self.base_cents)} → {self._m(self.head_cents)} per month "
            f"({self._signed(self.change_cents)}, {pct})**",
            "",
        ]
        if self.exceeded:
            out += [
                "> [!WARNING]",
                f"> This change raises the monthly estimate by {pct}, above the {self.threshold_percent:g} % "
                "threshold. Check the requests, replicas, volumes and load balancers below.",
                "",
            ]
        out += ["| Component | Previous | New | Difference |", "| --- | ---: | ---: | ---: |"]
        for name in sorted(set(self.base) | set(self.head)):
            b, h = self.base.get(name, 0), self.head.get(name, 0)
            prev = self._m(b) if name in self.base else "—"
            new = self._m(h) if name in self.head else "—"
            out.append(f"| {name} | {prev} | {new} | {self._signed(h - b)} ({self._pct(b, h)}) |")
        out.append(
            f"| **Total** | **{self._m(self.base_cents)}** | **{self._m(self.head_cents)}** | "
            f"**{self._signed(self.change_cents)}** |"
        )
        out.append("")
        if self.added:
            out.append("Added components: " + ", ".join(f"`{n}` ({self._m(self.head[n])})" for n in self.added))
        if self.removed:
            out.append("Removed components: " + ", ".join(f"`{n}` ({self._m(self.base[n])})" for n in self.removed))
        out.append(
            "Monthly estimate from CPU/memory requests, volumes and load balancers at the stack's OpenCost "
            "prices (`python -m tools.cost`, docs/COST_GUIDE.md)."
        )
        return "\n".join(out) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "currency": self.currency,
            "previousMonthly": self.base_cents / 100,
            "newMonthly": self.head_cents / 100,
            "changeMonthly": self.change_cents / 100,
            "changePercent": None if self.percent is None else round(self.percent, 4),
            "thresholdPercent": self.threshold_percent,
            "exceeded": self.exceeded,
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
        }


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
    _, currency, base_total, base_by = _summary(base, base_name)
    stack, head_currency, head_total, head_by = _summary(head, head_name)
    if currency != head_currency:
        raise EstimateError(f"{base_name} is in {currency} but {head_name} in {head_currency}; accepted: one currency")
    return CostDiff(stack, currency, base_total, head_total, base_by, head_by, float(threshold_percent))
