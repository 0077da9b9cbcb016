"""Helpers shared by the dashboards: data source refs, panel shortcuts, JSON export, PromQL extraction."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import BigValueColorMode, BigValueGraphMode, DataSourceRef
from grafana_foundation_sdk.models.dashboard import (
    Threshold,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from components.monitoring import names

PROMETHEUS = DataSourceRef(type_val="prometheus", uid=names.PROMETHEUS_DATASOURCE_UID)
TAGS = ["hardening"]


def to_dict(builder: Builder[Any]) -> dict[str, Any]:
    """The dashboard JSON model (plain dict) of a dashboard builder."""
    return json.loads(json.dumps(builder.build(), cls=JSONEncoder))  # type: ignore[no-any-return]


def new_dashboard(uid: str, title: str, description: str) -> db.Dashboard:
    return (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .refresh("30s")
        .time("now-3h", "now")
        .timezone("browser")
        .readonly()
    )


def query(
    expr: str, legend: str = "", ref: str = "A", instant: bool = False, fmt: PromQueryFormat | None = None
) -> prometheus.Dataquery:
    q = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(PROMETHEUS)
    if legend:
        q = q.legend_format(legend)
    if instant:
        q = q.instant()
    if fmt is not None:
        q = q.format(fmt)
    return q


def _queries(exprs: Sequence[tuple[str, str]]) -> list[Builder[Any]]:
    return [query(expr, legend, ref=chr(ord("A") + i)) for i, (expr, legend) in enumerate(exprs)]


def thresholds(*steps: tuple[float | None, str]) -> db.ThresholdsConfig:
    return db.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([Threshold(value=v, color=c) for v, c in steps])


def graph(
    panel_id: int,
    title: str,
    exprs: Sequence[tuple[str, str]],
    unit: str,
    *,
    description: str = "",
    span: int = 12,
    height: int = 8,
    minimum: float | None = 0,
) -> timeseries.Panel:
    p = (
        timeseries.Panel()
        .id(panel_id)
        .title(title)
        .datasource(PROMETHEUS)
        .unit(unit)
        .targets(_queries(exprs))
        .span(span)
        .height(height)
        .fill_opacity(10)
    )
    if description:
        p = p.description(description)
    if minimum is not None:
        p = p.min(minimum)
    return p


def single_stat(
    panel_id: int,
    title: str,
    expr: str,
    unit: str,
    steps: Sequence[tuple[float | None, str]],
    *,
    description: str = "",
    span: int = 6,
    height: int = 4,
    legend: str = "",
) -> stat.Panel:
    p = (
        stat.Panel()
        .id(panel_id)
        .title(title)
        .datasource(PROMETHEUS)
        .unit(unit)
        .with_target(query(expr, legend, instant=True))
        .span(span)
        .height(height)
        .color_mode(BigValueColorMode.BACKGROUND)
        .graph_mode(BigValueGraphMode.NONE)
        .thresholds(thresholds(*steps))
    )
    if description:
        p = p.description(description)
    return p


def instant_table(
    panel_id: int, title: str, expr: str, *, description: str = "", span: int = 24, height: int = 8
) -> table.Panel:
    p = (
        table.Panel()
        .id(panel_id)
        .title(title)
        .datasource(PROMETHEUS)
        .with_target(query(expr, instant=True, fmt=PromQueryFormat.TABLE))
        .span(span)
        .height(height)
    )
    if description:
        p = p.description(description)
    return p


def label_variable(
    name: str, label: str, metric_selector: str, *, multi: bool = True, include_all: bool = True, source: str = ""
) -> db.QueryVariable:
    """A variable listing the values of label ``source`` (default: ``name``) on ``metric_selector``
    (``label_values(...)``). Without ``include_all`` it holds exactly one value (for ``=`` matchers)."""
    v = (
        db.QueryVariable(name)
        .label(label)
        .datasource(PROMETHEUS)
        .query(f"label_values({metric_selector}, {source or name})")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(include_all)
    )
    return v.all_value(".*") if include_all else v


# --------------------------------------------------------------------------------------------------
# PromQL extraction (tests send every expression to a real Prometheus)
# --------------------------------------------------------------------------------------------------
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<arg>.*)\)\s*$", re.S)
_QUERY_RESULT = re.compile(r"^\s*query_result\((?P<arg>.*)\)\s*$", re.S)


def _panels(panels: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels") or [])


def collect_promql(dashboard_json: Mapping[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard: panel targets and query variables.

    ``label_values(<selector>, label)`` contributes its selector, ``query_result(<expr>)`` its expression
    (both are Grafana functions wrapping PromQL). Loki (LogQL) targets are not PromQL and are skipped.
    """
    out: list[str] = []
    for panel in _panels(dashboard_json.get("panels") or []):
        panel_ds = (panel.get("datasource") or {}).get("type")
        for target in panel.get("targets") or []:
            ds = (target.get("datasource") or {}).get("type") or panel_ds
            if ds not in (None, "prometheus"):
                continue
            expr = target.get("expr")
            if isinstance(expr, str) and expr.strip():
                out.append(expr)
    for variable in (dashboard_json.get("templating") or {}).get("list") or []:
        if variable.get("type") != "query" or (variable.get("datasource") or {}).get("type") != "prometheus":
            continue
        q = variable.get("query")
        q = q.get("query") if isinstance(q, Mapping) else q
        if not isinstance(q, str):
            continue
        m = _LABEL_VALUES.match(q)
        if m:
            head, sep, tail = m.group("arg").rpartition(",")
            selector = head if sep and re.fullmatch(r"\s*\w+\s*", tail) else m.group("arg")
            out.append(selector.strip())
            continue
        m = _QUERY_RESULT.match(q)
        out.append(m.group("arg") if m else q)
    return out


_GRAFANA_INTERVALS = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "${__rate_interval}": "5m",
    "${__interval}": "1m",
    "${__range}": "1h",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def for_prometheus(expr: str, values: Mapping[str, str] | None = None) -> str:
    """``expr`` with Grafana's variables replaced, so Prometheus can parse it.

    Interval macros become durations; other variables become ``values[name]``, else ``.*`` (every
    dashboard variable is used inside a ``=~`` matcher).
    """
    for macro, value in _GRAFANA_INTERVALS.items():
        expr = expr.replace(macro, value)
    vals = dict(values or {})

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        return vals.get(name, ".*")

    return _VARIABLE.sub(sub, expr)
