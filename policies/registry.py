"""The one list of rules: every policy in the pack is registered here exactly once.

A :class:`Rule` carries everything the pack, the offline report and the docs need: name, description,
severity, remediation, whether it judges one resource or the whole stack, its default enforcement
level and, where it takes configuration, a JSON schema with defaults. ``policies/__main__.py`` turns
:data:`RULES` into CrossGuard policies with :func:`pulumi_policies`; tests call the checks directly with
:func:`check_resource` / :func:`check_stack`. Enforcement per stack lives in ``policies/config/<stack>.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

from .rules import ci, cost, delivery, images, observability, podsecurity, rbac, secrets, vault, workloads
from .rules.common import (
    Finding,
    Resource,
    Rule,
    exempt,
    plain,
)

PACK_NAME = "hardening-policies"
LEVELS = ("advisory", "mandatory", "remediate", "disabled")
SEVERITIES = ("low", "medium", "high", "critical")

# The rule modules, in the order of the pack and of docs/POLICIES.md. Each declares its policies next to
# their check functions (``POLICY_<NAME> = Rule(...)``); adding a policy touches only its module.
AREAS: tuple[ModuleType, ...] = (
    images,
    workloads,
    podsecurity,
    ci,
    secrets,
    rbac,
    observability,
    delivery,
    cost,
    vault,
)


def collect(modules: Sequence[ModuleType]) -> list[Rule]:
    """Every :class:`Rule` a module declares at its top level, module by module, in declaration order."""
    return [v for m in modules for v in vars(m).values() if isinstance(v, Rule)]


RULES: list[Rule] = collect(AREAS)

_BY_NAME = {r.name: r for r in RULES}


def rule(name: str) -> Rule:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no policy named {name!r}; known: {', '.join(sorted(_BY_NAME))}") from None


def effective_config(r: Rule, config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The rule's schema defaults overlaid with ``config`` (what the Pulumi CLI sends to the pack)."""
    merged = r.defaults()
    merged.update({k: v for k, v in (config or {}).items() if k != "enforcementLevel"})
    return merged


def run_resource_rule(r: Rule, res: Resource, config: Mapping[str, Any]) -> list[str]:
    """``r`` on one resource: only types in ``applies_to``, never an exempted object."""
    if res.type not in r.applies_to or exempt(res, config):
        return []
    return list(r.check(res, config))


def run_stack_rule(r: Rule, resources: Sequence[Resource], config: Mapping[str, Any]) -> list[Finding]:
    """``r`` over the stack; exempted objects are invisible to it."""
    return list(r.check([x for x in resources if not exempt(x, config)], config))


def check_resource(
    name: str,
    resource_type: str,
    props: Mapping[str, Any],
    config: Mapping[str, Any] | None = None,
    resource_name: str = "",
    urn: str = "",
) -> list[str]:
    """Run one resource rule on one resource in engine form; returns the violation messages."""
    r = rule(name)
    if r.kind != "resource":
        raise ValueError(f"{name} is a stack rule; use check_stack")
    return run_resource_rule(r, Resource(resource_type, plain(props), resource_name, urn), effective_config(r, config))


def check_stack(
    name: str, resources: Sequence[Mapping[str, Any]], config: Mapping[str, Any] | None = None
) -> list[Finding]:
    """Run one stack rule over resource records ``{"type", "inputs"|"props", "name", "urn"}``."""
    r = rule(name)
    if r.kind != "stack":
        raise ValueError(f"{name} is a resource rule; use check_resource")
    recs = [
        Resource(
            str(x["type"]),
            plain(x.get("inputs", x.get("props", {}))),
            str(x.get("name", "")),
            str(x.get("urn", "")),
            x.get("parent"),
        )
        for x in resources
    ]
    return run_stack_rule(r, recs, effective_config(r, config))


# CrossGuard adapters ---------------------------------------------------------------------------------
def pack_arguments() -> dict[str, Any]:
    """The ``PolicyPack`` constructor arguments, used by ``policies/__main__.py`` (the pack the engine
    starts); the offline report runs the same policy objects (:func:`pulumi_policies`)."""
    from pulumi_policy import EnforcementLevel

    return {"name": PACK_NAME, "enforcement_level": EnforcementLevel.ADVISORY, "policies": pulumi_policies()}


def pulumi_policies() -> list[Any]:
    """The CrossGuard policy objects for :data:`RULES` (imports ``pulumi_policy`` lazily)."""
    from pulumi_policy import (
        ReportViolation,
        ResourceValidationArgs,
        ResourceValidationPolicy,
        StackValidationArgs,
        StackValidationPolicy,
    )

    # Rules only read what they are given, so the policies share one plain copy of each resource's properties
    # (the engine hands every policy the same object for a resource; a copy per rule cost ~15 % of the pack
    # at 50 services), one effective config per rule config, and one record list per stack.
    plain_copies: dict[int, tuple[Any, Any]] = {}  # id(props) -> (props, plain copy): props held, so ids stay unique

    def plain_of(props: Any) -> Any:
        hit = plain_copies.get(id(props))
        if hit is None or hit[0] is not props:
            hit = plain_copies[id(props)] = (props, plain(props))
        return hit[1]

    def config_of(r: Rule) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
        last: list[Any] = [None, None]  # the rule's config as given, and its effective config

        def effective(given: Mapping[str, Any]) -> dict[str, Any]:
            if last[0] is not given:
                last[:] = [given, effective_config(r, given)]
            return dict(last[1])

        return effective

    stack_records: list[Any] = [None, None]  # args.resources, and its records

    def resource_validator(r: Rule) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
        effective = config_of(r)

        def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if args.resource_type not in r.applies_to:
                return  # before copying the properties: most resources are not of a type the rule reads
            res = Resource(args.resource_type, plain_of(args.props), args.name, args.urn)
            for msg in run_resource_rule(r, res, effective(args.get_config())):
                report_violation(msg, None)

        return validate

    def stack_validator(r: Rule) -> Callable[[StackValidationArgs, ReportViolation], None]:
        effective = config_of(r)

        def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
            if stack_records[0] is not args.resources:
                stack_records[:] = [
                    args.resources,
                    [
                        Resource(
                            x.resource_type,
                            plain_of(x.props),
                            x.name,
                            x.urn,
                            x.parent.urn if x.parent is not None else None,
                        )
                        for x in args.resources
                    ],
                ]
            for finding in run_stack_rule(r, stack_records[1], effective(args.get_config())):
                report_violation(finding.message, finding.urn)

        return validate

    return [
        ResourceValidationPolicy(validate=resource_validator(r), **_policy_fields(r))
        if r.kind == "resource"
        else StackValidationPolicy(validate=stack_validator(r), **_policy_fields(r))
        for r in RULES
    ]


def _policy_fields(r: Rule) -> dict[str, Any]:
    """What every CrossGuard policy object of ``r`` carries besides its validator."""
    from pulumi_policy import EnforcementLevel, PolicyConfigSchema, Severity

    return {
        "name": r.name,
        "description": r.description,
        "enforcement_level": EnforcementLevel(r.default_level),
        "severity": Severity(r.severity),
        "remediation_steps": r.remediation,
        "tags": [r.area],
        "config_schema": PolicyConfigSchema(properties=r.schema(), required=list(r.required) or None),
    }
