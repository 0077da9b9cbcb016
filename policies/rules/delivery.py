"""Delivery rule: the app runs as an Argo Rollout with automated analysis and at least one pause."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from components.conventions import LABEL_COMPONENT

from .common import (
    ANALYSIS_TEMPLATE,
    CLUSTER_ANALYSIS_TEMPLATE,
    ROLLOUT,
    WORKLOAD_TYPES,
    Finding,
    Resource,
    Rule,
    as_list,
    as_map,
    dig,
    labels,
    object_name,
    pod_labels,
    ref,
)


def _template_names(analysis: Any) -> list[str]:
    names = []
    for t in as_list(as_map(analysis).get("templates")):
        name = as_map(t).get("templateName")
        if isinstance(name, str):
            names.append(name)
    return names


def _rollout_problems(r: Resource, templates: set[str]) -> list[str]:
    strategy = as_map(dig(r.props, "spec", "strategy"))
    canary, blue_green = as_map(strategy.get("canary")), as_map(strategy.get("blueGreen"))
    referenced: list[str] = []
    has_pause = has_analysis = False
    if canary:
        steps = [as_map(s) for s in as_list(canary.get("steps"))]
        has_pause = any("pause" in s for s in steps)
        for s in steps:
            if "analysis" in s:
                has_analysis = True
                referenced += _template_names(s.get("analysis"))
        if "analysis" in canary:
            has_analysis = True
            referenced += _template_names(canary.get("analysis"))
    elif blue_green:
        has_pause = blue_green.get("autoPromotionEnabled") is False or "autoPromotionSeconds" in blue_green
        for key in ("prePromotionAnalysis", "postPromotionAnalysis"):
            if key in blue_green:
                has_analysis = True
                referenced += _template_names(blue_green.get(key))
    else:
        return ["has neither a canary nor a blueGreen strategy"]
    problems = []
    if not has_pause:
        problems.append(
            "has no pause step"
            if canary
            else "promotes automatically (set autoPromotionEnabled: false or autoPromotionSeconds)"
        )
    if not has_analysis:
        problems.append("runs no analysis (add an analysis step or background analysis)")
    missing = sorted({n for n in referenced if n not in templates})
    if missing:
        problems.append(f"references AnalysisTemplate(s) {missing} that the stack does not define")
    elif has_analysis and not referenced:
        problems.append("analysis lists no templates")
    return problems


def app_rollout(resources: Sequence[Resource], config: Mapping[str, Any]) -> list[Finding]:
    """The app workload is a Rollout with analysis and at least one pause step."""
    component = config.get("component", "app")
    templates = {object_name(r) for r in resources if r.type in (ANALYSIS_TEMPLATE, CLUSTER_ANALYSIS_TEMPLATE)}
    apps = [
        r
        for r in resources
        if r.type in WORKLOAD_TYPES
        and component in (labels(r.props).get(LABEL_COMPONENT), pod_labels(r).get(LABEL_COMPONENT))
    ]
    # A Rollout may take its pod template from a Deployment (spec.workloadRef); that Deployment is fine.
    referenced = {
        (dig(r.props, "spec", "workloadRef", "kind"), dig(r.props, "spec", "workloadRef", "name"))
        for r in resources
        if r.type == ROLLOUT
    }
    apps = [r for r in apps if (r.props.get("kind"), object_name(r)) not in referenced]
    if not apps:
        return [
            Finding(
                f"no workload labelled {LABEL_COMPONENT}={component} in the stack; the app must run as an Argo Rollout"
            )
        ]
    findings = []
    for r in apps:
        if r.type != ROLLOUT:
            findings.append(
                Finding(f"{ref(r)} runs the app as a {r.type.rsplit(':', 1)[-1]}, not an Argo Rollout", r.urn or None)
            )
            continue
        findings += [Finding(f"{ref(r)} {p}", r.urn or None) for p in _rollout_problems(r, templates)]
    return findings


POLICY_DELIVERY_APP_ROLLOUT = Rule(
    name="delivery-app-rollout",
    area="delivery",
    severity="high",
    kind="stack",
    default_level="advisory",
    check=app_rollout,
    config={
        "component": {
            "type": "string",
            "default": "app",
            "description": "app.kubernetes.io/component value of app workloads.",
        },
    },
    description="The app runs as an Argo Rollout whose strategy has automated analysis and at least one pause step.",
    remediation="Deploy the app through the CanaryDelivery component (Rollout with canary steps "
    "20/50/80 %, pauses and an AnalysisTemplate on the error rate) instead of a Deployment.",
)
