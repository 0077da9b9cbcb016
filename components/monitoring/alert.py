"""The one way to build an alerting rule: name, expression, ``for``, severity, summary, description and a
runbook anchor that is checked against the guide it points into.

Every alert of the platform (``rules.py``, ``service.py``, ``platform_rules.py``) is built here, so each one
carries ``labels.severity`` (critical: pages; warning: a ticket), the annotations ``summary``,
``description`` and ``runbook_url = <base>/<GUIDE>#<alert name, lowercase>``, and its runbook heading
(``### <AlertName>``) exists in ``docs/<GUIDE>``: a missing runbook is a build error, not a 404 at 3 am.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.monitoring.scrape import duration_seconds

GUIDE = "MONITORING_GUIDE.md"
DOCS = Path(__file__).resolve().parents[2] / "docs"
SEVERITIES = ("critical", "warning")
_ALERT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]{2,80}$")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$")


@functools.cache
def guide_anchors(guide: str) -> frozenset[str]:
    """GitHub anchors of the headings of ``docs/<guide>`` (lowercased, spaces to '-', punctuation dropped)."""
    path = DOCS / guide
    anchors: set[str] = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        m = None if in_code else _HEADING.match(line)
        if m:
            anchors.add(re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-"))
    return frozenset(anchors)


def runbook_anchor(alert_name: str) -> str:
    """GitHub's anchor for a ``### <AlertName>`` heading."""
    return alert_name.lower()


def runbook_url(base_url: str, alert_name: str, guide: str = GUIDE) -> str:
    return f"{base_url}/{guide}#{runbook_anchor(alert_name)}"


def alert_rule(
    name: str,
    expr: str,
    *,
    severity: str,
    summary: str,
    description: str,
    runbook_base_url: str,
    for_: str = "0s",
    labels: Mapping[str, str] | None = None,
    guide: str = GUIDE,
) -> dict[str, Any]:
    """A Prometheus alerting rule (a dict for a rule group). ValueError names the field and what is accepted."""
    if not isinstance(name, str) or not _ALERT_NAME.match(name):
        raise ValueError(f"alert name = {name!r} is invalid; accepted: CamelCase letters and digits, 3-81 characters")
    if severity not in SEVERITIES:
        raise ValueError(f"alert {name}: severity = {severity!r} is invalid; accepted: {', '.join(SEVERITIES)}")
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError(f"alert {name}: expr = {expr!r} is invalid; accepted: a PromQL expression")
    for key, value in (("summary", summary), ("description", description)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"alert {name}: {key} = {value!r} is invalid; accepted: a non-empty string")
    if not isinstance(runbook_base_url, str) or not re.match(r"^https://\S+[^/]$", runbook_base_url):
        raise ValueError(
            f"alert {name}: runbook_base_url = {runbook_base_url!r} is invalid; "
            "accepted: an https URL without trailing slash"
        )
    if runbook_anchor(name) not in guide_anchors(guide):
        raise ValueError(
            f"alert {name}: runbook anchor #{runbook_anchor(name)} is not a heading of docs/{guide}; "
            f"accepted: an alert with a '### {name}' runbook section"
        )
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if duration_seconds(for_, f"alert {name}: for") > 0:
        rule["for"] = for_
    extra = dict(labels or {})
    if "severity" in extra:
        raise ValueError(f"alert {name}: labels['severity'] is set twice; accepted: severity= only")
    rule["labels"] = {"severity": severity, **extra}
    rule["annotations"] = {
        "summary": summary,
        "description": description,
        "runbook_url": runbook_url(runbook_base_url, name, guide),
    }
    return rule


def alert_durations(defaults: Mapping[str, str], overrides: Mapping[str, str] | None) -> dict[str, str]:
    """Each alert's ``for``: an area's defaults with a stack's ``alert_for`` overrides, every one a valid
    duration; an override naming an alert the area does not have is refused."""
    given = dict(overrides or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"alert_for has unknown alert(s) {', '.join(unknown)}; accepted: {', '.join(defaults)}")
    fors = {**defaults, **given}
    for name, value in fors.items():
        duration_seconds(value, f"alert_for[{name!r}]")
    return fors
