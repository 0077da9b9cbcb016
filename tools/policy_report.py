"""Run the CrossGuard policy pack over a stack's resources offline and report the result.

    python -m tools.policy_report --stack prod --plan dist/prod/plan.json [--out policy.json] [--json]

One runner: the pack's own policy objects (``policies.registry.pulumi_policies``, what ``policies/__main__.py``
serves to ``pulumi preview``) called in this process through pulumi_policy's public API, with the stack's
config reconciled and validated by ``policies.pack_config``. ``tests/policies/test_engine.py`` holds the
report equal to the engine's (the pack as a gRPC subprocess). Messages never contain secret values.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from policies.pack_config import PACK_DIR, PolicyConfigError, default_config_path, read_policy_config, reconcile
from tools.cli import Parser, UserError, add_json, add_quiet, run

LEVEL_ORDER = {"mandatory": 0, "remediate": 1, "advisory": 2}


@dataclass
class Violation:
    policy: str
    level: str
    severity: str
    urn: str
    type: str
    name: str
    message: str
    remediation: str


@dataclass
class Report:
    stack: str
    pack: str
    version: str
    resources: int
    levels: dict[str, str]  # policy -> effective level for this stack
    violations: list[Violation] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def mandatory_failures(self) -> int:
        return sum(1 for v in self.violations if v.level == "mandatory")

    @property
    def advisory_warnings(self) -> int:
        return sum(1 for v in self.violations if v.level == "advisory")

    def summary(self) -> dict[str, Any]:
        return {
            "resources": self.resources,
            "policies": len(self.levels),
            "policiesByLevel": dict(sorted(Counter(self.levels.values()).items())),
            "mandatory": self.mandatory_failures,
            "advisory": self.advisory_warnings,
            "byPolicy": dict(sorted(Counter(v.policy for v in self.violations).items())),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "policyPack": {"name": self.pack, "version": self.version},
            "notices": self.notices,
            "summary": self.summary(),
            "levels": dict(sorted(self.levels.items())),
            "violations": [asdict(v) for v in self.ordered()],
        }

    def ordered(self) -> list[Violation]:  # most severe first, then policy, resource, message: stable across runs
        return sorted(self.violations, key=lambda v: (LEVEL_ORDER.get(v.level, 3), v.policy, v.urn, v.message))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1) + "\n"

    def format_text(self) -> str:
        s = self.summary()
        lines = [f"notice: {n}" for n in self.notices]
        lines.append(
            f"policy pack {self.pack}@{self.version} on stack {self.stack}: {self.resources} resources, "
            f"{s['policies']} policies ({', '.join(f'{n} {lvl}' for lvl, n in s['policiesByLevel'].items())})"
        )
        for v in self.ordered():
            lines.append(f"  {v.level.upper():<9} {v.policy}  [{f'{v.type} {v.name}' if v.type else 'stack'}]")
            lines += [f"            {v.message}", f"            fix: {v.remediation}"]
        verdict = "FAIL" if self.mandatory_failures else "ok"
        lines.append(
            f"policy summary: {self.mandatory_failures} mandatory, {self.advisory_warnings} advisory "
            f"violation(s) -> {verdict}"
        )
        return "\n".join(lines)


def pack_version() -> str:
    import yaml

    return str((yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text()) or {}).get("version") or "0.0.1")


def engine_form(value: Any) -> Any:
    """``value`` as the engine hands it to a pack (a protobuf Struct): every number a float."""
    if isinstance(value, Mapping):
        return {str(k): engine_form(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [engine_form(v) for v in value]
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


class InProcessPack:
    """The pack's policy objects run in this interpreter as the engine's analyzer runs them: every enabled
    resource policy on each resource (``Analyze``), then every stack policy over all of them (``AnalyzeStack``).

    A stack without ``policies/config/<stack>.json`` runs every policy at its default level, with a notice."""

    def __init__(self, stack: str, config_path: Path | str | None = None) -> None:
        self.stack = stack
        self.notices: list[str] = []
        path = Path(config_path) if config_path is not None else default_config_path(stack)
        if config_path is None and not path.exists():
            self.notices.append(
                f"no policy config policies/config/{stack}.json for stack {stack!r}: every policy runs at its "
                "default level (docs/POLICIES.md, 'Adding a stack')"
            )
            self.config = reconcile({})
        else:
            self.config = reconcile(read_policy_config(path), str(path))

    def finish(self, records: Iterable[Mapping[str, Any]]) -> Report:
        from pulumi_policy import PolicyResource, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs

        from policies.registry import PACK_NAME, RULES, pulumi_policies

        by_urn = {str(r["urn"]): r for r in (_checked(r, i) for i, r in enumerate(records))}
        rules = {r.name: r for r in RULES}
        levels = {n: c.level or rules[n].default_level for n, c in self.config.items()}
        report = Report(self.stack, PACK_NAME, pack_version(), len(by_urn), levels, notices=list(self.notices))

        def reporter(policy: str, subject: Mapping[str, Any] | None) -> Callable[[str, str | None], None]:
            level = "mandatory" if levels[policy] == "remediate" else levels[policy]  # as the engine downgrades
            rule = rules[policy]

            def report_violation(message: str, urn: str | None = None) -> None:
                at = subject if subject is not None else by_urn.get(urn or "")
                where = (str(at["urn"]), str(at["type"]), str(at["name"])) if at else (urn or "", "", self.stack)
                report.violations.append(Violation(policy, level, rule.severity, *where, message, rule.remediation))

            return report_violation

        resources = [
            PolicyResource(str(r["type"]), engine_form(r["inputs"]), u, str(r["name"]), _opts(r), None, None, [], {})
            for u, r in by_urn.items()
        ]
        by_res = {res.urn: res for res in resources}
        for res in resources:
            res.parent = by_res.get(res.opts.parent or "")
        enabled = [p for p in pulumi_policies() if levels[p.name] != "disabled"]
        per_resource = [p for p in enabled if isinstance(p, ResourceValidationPolicy)]
        # A rule reads only the types it applies to (its validator returns at once for the others).
        by_type: dict[str, list[Any]] = {}
        for res in resources:  # Analyze, in the engine's order: resource by resource, policy by policy
            if res.resource_type not in by_type:
                by_type[res.resource_type] = [p for p in per_resource if res.resource_type in rules[p.name].applies_to]
            for p in by_type[res.resource_type]:
                cfg = self.config[p.name].properties
                args = ResourceValidationArgs(res.resource_type, res.props, res.urn, res.name, res.opts, None, cfg)
                p.validate(args, reporter(p.name, by_urn[res.urn]))
        for p in (p for p in enabled if p not in per_resource):  # AnalyzeStack
            p.validate(StackValidationArgs(resources, self.config[p.name].properties), reporter(p.name, None))
        return report

    def stop(self) -> None:
        """Nothing runs between calls; kept because the render calls it in ``finally``."""


def _checked(rec: Mapping[str, Any], index: int) -> Mapping[str, Any]:
    missing = [k for k in ("urn", "type", "name", "inputs") if not isinstance(rec, Mapping) or k not in rec]
    if missing:
        raise UserError(
            f"resource #{index}: lacks {', '.join(missing)} (accepted: objects with urn, type, name, inputs)"
        )
    return rec


def _opts(rec: Mapping[str, Any]) -> Any:
    from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions

    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], rec.get("parent") or None)


def read_plan(path: Path) -> tuple[str | None, list[Mapping[str, Any]]]:
    """``(stack, resources)`` of a plan.json written by the render (or a bare list of resources)."""
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise UserError(f"--plan {path}: cannot read it ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"--plan {path}: not valid JSON ({exc})") from None
    resources = doc.get("resources") if isinstance(doc, Mapping) else doc
    if not isinstance(resources, list):
        raise UserError(f"--plan {path}: accepted is a list of resources or an object with 'resources'")
    stack = doc.get("stack") if isinstance(doc, Mapping) else None
    if not isinstance(stack, str):
        urns = {str(r.get("urn", "")).split("::")[0] for r in resources if isinstance(r, Mapping)}
        only = next(iter(urns)) if len(urns) == 1 else ""
        stack = only[len("urn:pulumi:") :] if only.startswith("urn:pulumi:") else None
    return stack, resources


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="python -m tools.policy_report", description=__doc__)
    parser.add_argument("--stack", required=True, help="stack name (selects policies/config/<stack>.json)")
    parser.add_argument("--plan", type=Path, required=True, help="plan.json written by the render")
    parser.add_argument("--config", type=Path, help="policy config file (default policies/config/<stack>.json)")
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    parser.add_argument("--force", action="store_true", help="analyse a plan rendered for another stack")
    add_json(parser)
    add_quiet(parser)
    args = parser.parse_args(argv)

    def go() -> int:
        plan_stack, resources = read_plan(args.plan)
        if plan_stack is not None and plan_stack != args.stack and not args.force:
            raise UserError(
                f"--plan {args.plan} was rendered for stack {plan_stack!r} but --stack is {args.stack!r}: the "
                f"{args.stack} policy levels would judge {plan_stack} resources (pass --force to do it anyway)"
            )
        report = InProcessPack(args.stack, args.config).finish(resources)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(report.to_json())
        if args.json:
            print(report.to_json(), end="")
        elif not args.quiet:
            print(report.format_text())
        return 1 if report.mandatory_failures else 0

    return run("policy_report", go, user_errors=(PolicyConfigError,))


if __name__ == "__main__":
    sys.exit(main())
