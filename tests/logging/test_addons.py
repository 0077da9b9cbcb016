"""What Logging hands to Monitoring: scrape jobs, the Loki data source, the logs dashboard, the rule group."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import conventions as cv
from components.logging import names
from components.logging.addons import monitoring_addons
from components.logging.component import alloy_container, loki_container
from components.monitoring import names as mnames
from components.monitoring.dashboards.application import logs_link
from components.monitoring.dashboards.common import collect_promql, for_prometheus, to_dict
from tests.logging.support import settings_for

STACKS = ("dev", "prod")
_MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def _dash(stack: str = "prod") -> dict[str, Any]:
    (spec,) = monitoring_addons(settings_for(stack)).dashboards
    return dict(spec.json)


def _panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dash["panels"] if p["type"] != "row"]


def _logql(dash: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in _panels(dash) for t in p["targets"] if t["datasource"]["type"] == "loki"]


@pytest.mark.parametrize("stack", STACKS)
def test_addons_carry_scrape_jobs_datasource_dashboard_and_rules(stack: str) -> None:
    s = settings_for(stack)
    addons = monitoring_addons(s)
    assert [t.name for t in addons.scrape_targets] == ["loki", "alloy"]
    assert [g["name"] for g in addons.rule_groups] == ["loki", "logging"]
    guides = {"loki": "MONITORING_GUIDE.md", "logging": "LOGGING_GUIDE.md"}
    for group in addons.rule_groups:
        for r in group["rules"]:
            prefix = f"{s.monitoring.runbook_base_url}/{guides[group['name']]}#"
            assert r["annotations"]["runbook_url"] == prefix + r["alert"].lower()
    (ds,) = addons.datasources
    assert (ds.type, ds.uid, ds.url) == ("loki", mnames.LOKI_DATASOURCE_UID, names.loki_base_url())
    assert ds.provisioning()["url"] == "http://loki.logging.svc:3100"
    (dash,) = addons.dashboards
    assert (dash.uid, dash.title) == (mnames.DASHBOARD_UID_LOGS, "Logs")
    json.dumps(dash.json)


def test_scrape_jobs_select_the_pods_and_ports_the_component_renders() -> None:
    s = settings_for("prod")
    ports = {
        "loki": {p["name"] for p in loki_container(s)["ports"]},  # type: ignore[attr-defined]
        "alloy": {p["name"] for p in alloy_container(s)["ports"]},  # type: ignore[attr-defined]
    }
    for target in monitoring_addons(s).scrape_targets:
        assert target.namespace == cv.NS_LOGGING and target.role == "pod" and target.path == "/metrics"
        assert target.selector == {cv.LABEL_NAME: target.name}
        assert target.port in ports[target.name]


def test_dashboard_variables_are_the_ones_the_application_dashboard_links_with() -> None:
    dash = _dash()
    variables = [v["name"] for v in dash["templating"]["list"]]
    assert tuple(variables) == mnames.LOGS_DASHBOARD_VARIABLES == ("namespace", "app", "level")
    assert all(
        v["datasource"] == {"type": "loki", "uid": mnames.LOKI_DATASOURCE_UID} for v in dash["templating"]["list"]
    )
    link = to_dict(logs_link())
    url = urllib.parse.urlsplit(link["url"])
    assert url.path == f"/d/{dash['uid']}/{dash['title'].lower()}"
    linked = {k.removeprefix("var-") for k, _ in urllib.parse.parse_qsl(url.query) if k.startswith("var-")}
    assert linked == set(variables)
    assert dict(urllib.parse.parse_qsl(url.query))["var-level"] == "error"


def test_panels_volume_by_level_and_namespace_error_rate_and_live_logs() -> None:
    dash = _dash()
    by_title = {p["title"]: p for p in _panels(dash)}
    exprs = dict(_logql(dash))
    assert exprs["Log volume by level"].startswith("sum by (level) (count_over_time(")
    assert exprs["Log volume by namespace"].startswith("sum by (namespace) (count_over_time(")
    assert 'level=~"error|critical"' in exprs["Error log rate"] and exprs["Error log rate"].startswith(
        "sum by (namespace, app) (rate("
    )
    logs = by_title["Logs"]
    assert logs["type"] == "logs"
    assert exprs["Logs"] == '{namespace=~"$namespace", app=~"$app", level=~"$level"}'
    # every panel except the error rate (its level is fixed) follows all three variables
    for title, expr in exprs.items():
        wanted = ("$namespace", "$app") if title == "Error log rate" else ("$namespace", "$app", "$level")
        assert all(v in expr for v in wanted), title


def _nesting_problem(expr: str) -> str | None:
    """Where ``expr``'s brackets do not nest ((), {}, []), outside quoted strings; None when they do."""
    pairs, stack, quote = {")": "(", "}": "{", "]": "["}, [], ""
    for i, ch in enumerate(expr):
        if quote:
            quote = "" if ch == quote and expr[i - 1] != "\\" else quote
        elif ch in '"`':
            quote = ch
        elif ch in "({[":
            stack.append(ch)
        elif ch in pairs and (not stack or stack.pop() != pairs[ch]):
            return f"{ch!r} at {i} closes nothing it opened"
    return f"{stack[-1]!r} left open" if stack or quote else None


def test_the_nesting_check_can_fail() -> None:
    assert _nesting_problem('sum(rate({app="a"}[5m]))') is None
    assert _nesting_problem('sum(rate({app="a")[5m]})') is not None  # same counts, wrong order
    assert _nesting_problem('{app="(("}') is None  # brackets inside a string are text


def _selectors(expr: str) -> list[str]:
    return re.findall(r"\{[^{}]*\}", expr)


@pytest.mark.parametrize("all_selected", [True, False])
def test_every_logql_selector_is_acceptable_to_loki(all_selected: bool) -> None:
    """Loki rejects a selector whose every matcher matches the empty string: check with "All" selected."""
    dash = _dash()
    values = {v["name"]: v["allValue"] if all_selected else "web" for v in dash["templating"]["list"]}
    for title, expr in _logql(dash):
        assert _nesting_problem(expr) is None, (title, _nesting_problem(expr))
        for selector in _selectors(expr):
            filled = re.sub(r"\$(\w+)", lambda m: values[m.group(1)], selector)
            matchers = _MATCHER.findall(filled)
            assert matchers and len(matchers) == filled.count(",") + 1, (title, filled)
            non_empty = [
                m for m in matchers if (m[1] == "=" and m[2] != "") or (m[1] == "=~" and not re.fullmatch(m[2], ""))
            ]
            assert non_empty, f"{title}: {filled} matches the empty string only"
    # and the check can fail: ".*" for namespace would be rejected by Loki
    assert re.fullmatch(".*", "") and not re.fullmatch(values["namespace"], "")


def test_variable_queries_use_the_dashboard_variables_in_order() -> None:
    queries = {v["name"]: v["query"] for v in _dash()["templating"]["list"]}
    assert queries == {
        "namespace": "label_values(namespace)",
        "app": 'label_values({namespace=~"$namespace"}, app)',
        "level": 'label_values({namespace=~"$namespace", app=~"$app"}, level)',
    }


@pytest.mark.tools
def test_dashboard_promql_parses_with_promtool(tmp_path: Path) -> None:
    exprs = collect_promql(_dash())
    assert len(exprs) == 3 and all('job="' in e for e in exprs)
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"logs_dashboard:query{i}", "expr": for_prometheus(e)} for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump(rules))
    proc = subprocess.run(
        ["/usr/bin/promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # promtool does reject broken PromQL (the check can fail)
    path.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "x", "expr": "sum(rate(x[5m])"}]}]}))
    assert (
        subprocess.run(["/usr/bin/promtool", "check", "rules", str(path)], capture_output=True, timeout=60).returncode
        != 0
    )
