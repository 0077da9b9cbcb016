"""The offline runner (``tools.policy_report``): pulumi_policy's own data path, the CLI-compatible
reconciliation of the policy config (validated with jsonschema), the report and the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from policies import registry
from policies.pack_config import PolicyConfigError, default_config_path, reconcile, stack_config
from policies.rules.common import Finding, Resource
from tests.policies import engine as e
from tools import policy_report as pr

LATEST = e.wrecord(
    "Deployment", e.workload(spec=e.pod_spec([e.container(image="docker.io/library/nginx:latest")])), name="web"
)
NO_PROBES = e.wrecord("Deployment", e.workload(name="api", spec=e.pod_spec([e.container(livenessProbe=None)])))
BARE_NS = e.record("kubernetes:core/v1:Namespace", e.namespace("scratch", labels={}))


def write_config(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(data))
    return path


def analyze(recs: list[dict[str, Any]], stack: str, config: Path | None = None) -> pr.Report:
    return pr.InProcessPack(stack, config).finish(recs)


def by_policy(report: pr.Report) -> dict[str, list[pr.Violation]]:
    out: dict[str, list[pr.Violation]] = {}
    for v in report.violations:
        out.setdefault(v.policy, []).append(v)
    return out


# --- the registry: one place applies applies_to and exemptions ----------------------------------------
def test_adapter_reads_pulumi_policy_proxies_with_secrets_and_unknowns() -> None:
    from pulumi_policy import ResourceValidationArgs
    from pulumi_policy.deserialize import deserialize_properties
    from pulumi_policy.proxy import unknown_checking_proxy

    policies = {p.name: p for p in registry.pulumi_policies()}
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    env = [{"name": "DB_PASSWORD", "value": e.secret("hunter2hunter2")}, {"name": "HOST", "value": unknown}]
    props = e.workload(spec=e.pod_spec([e.container(image="nginx:latest", env=env)]))
    # What the engine's analyzer does with the properties before a policy runs.
    proxied = unknown_checking_proxy(deserialize_properties(props))
    reported: list[str] = []
    for name in ("images-no-latest-tag", "secrets-no-literal-values", "workload-probes"):
        args = ResourceValidationArgs("kubernetes:apps/v1:Deployment", proxied, "urn:x", "web", None, None, None)  # type: ignore[arg-type]
        policies[name].validate(args, lambda msg, urn=None: reported.append(msg))
    assert any("mutable tag 'latest'" in m for m in reported)
    assert any("DB_PASSWORD is a literal" in m for m in reported)
    assert not any("hunter2" in m for m in reported)
    assert len(reported) == 2


def test_every_rule_becomes_one_policy_with_its_metadata_and_exemptions() -> None:
    from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

    policies = registry.pulumi_policies()
    assert [p.name for p in policies] == [r.name for r in registry.RULES]
    assert len({r.name for r in registry.RULES}) == len(registry.RULES)
    for p, r in zip(policies, registry.RULES, strict=True):
        assert isinstance(p, ResourceValidationPolicy if r.kind == "resource" else StackValidationPolicy)
        assert p.remediation_steps == r.remediation and p.severity is not None and p.severity.value == r.severity
        assert r.default_level in registry.LEVELS and r.severity in registry.SEVERITIES
        assert r.kind == "stack" or r.applies_to, f"{r.name} applies to no resource type"
        assert p.config_schema is not None and "exemptions" in p.config_schema.properties


def test_registry_filters_types_and_exemptions_before_the_rule_runs() -> None:
    seen: list[str] = []

    def spy(res: Resource, config: Any) -> list[str]:
        seen.append(res.type)
        return ["hit"]

    r = dataclasses.replace(registry.rule("images-no-latest-tag"), check=spy)
    ns = Resource("kubernetes:core/v1:Namespace", {"kind": "Namespace", "metadata": {"name": "x"}})
    dep = Resource(LATEST["type"], LATEST["inputs"])
    assert registry.run_resource_rule(r, ns, r.defaults()) == []
    assert registry.run_resource_rule(r, dep, {"exemptions": ["Deployment/apps/web"]}) == []
    assert seen == []
    assert registry.run_resource_rule(r, dep, r.defaults()) == ["hit"] and seen == [LATEST["type"]]

    def stack_spy(resources: Any, config: Any) -> list[Any]:
        return [Finding(x.type) for x in resources]

    s = dataclasses.replace(registry.rule("workload-pod-disruption-budget"), check=stack_spy)
    found = registry.run_stack_rule(s, [dep, ns], {"exemptions": ["Namespace/x"]})
    assert [f.message for f in found] == [LATEST["type"]]  # the exempted Namespace never reached the rule


# --- policy config: reconcile and validate like the CLI (jsonschema) -----------------------------------
def test_reconcile_defaults_all_then_specific() -> None:
    cfg = reconcile({"all": "disabled", "workload-min-replicas": {"enforcementLevel": "mandatory", "minReplicas": 3}})
    assert cfg["images-no-latest-tag"].level == "disabled"
    assert cfg["workload-min-replicas"].level == "mandatory"
    assert cfg["workload-min-replicas"].properties["minReplicas"] == 3
    assert cfg["workload-min-replicas"].properties["exemptions"] == []  # schema default kept
    assert {n: c.level for n, c in reconcile({}).items()} == {r.name: r.default_level for r in registry.RULES}


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"images-no-latest-tag": "strict"}, "images-no-latest-tag: 'strict' is not an enforcement level (accepted:"),
        ({"images-no-latest-tag": {"enforcementLevel": 2}}, "images-no-latest-tag.enforcementLevel: 2 is not one of"),
        ({"images-no-latst-tag": "mandatory"}, "images-no-latst-tag: no such policy"),
        ({"workload-min-replicas": {"minReplica": 2}}, "workload-min-replicas.minReplica: unknown property (accepted:"),
        ({"workload-min-replicas": {"minReplicas": "two"}}, "minReplicas: 'two' is not of type 'number'"),
        ({"workload-min-replicas": {"minReplicas": 0}}, "minReplicas: 0 is less than the minimum of 1"),
        ({"images-allowed-registries": {"allowedRegistries": ["ok", 3]}}, "allowedRegistries[1]: 3 is not of type"),
        ({"images-no-latest-tag": ["mandatory"]}, "must be a level string or an object"),
        ({"all": {"enforcementLevel": "mandatory"}}, "all: must be a level string"),
        (["images-no-latest-tag"], "must be a JSON object"),
    ],
)
def test_invalid_config_names_the_key_and_value(data: Any, says: str) -> None:
    with pytest.raises(PolicyConfigError) as exc:
        reconcile(data)
    assert says in str(exc.value)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_configs_are_valid(stack: str) -> None:
    """A rule a stack file does not name runs at its registry default: adding a policy needs no config edit."""
    raw = json.loads(default_config_path(stack).read_text())
    assert set(raw) <= {r.name for r in registry.RULES}
    assert all(c.level in ("advisory", "mandatory", "disabled") for c in stack_config(stack).values())
    for name, value in raw.items():  # only levels and exemptions (and Vault's per-name capability allowance)
        assert isinstance(value, str) or set(value) <= {"enforcementLevel", "exemptions", "allowedAddByName"}, name


def test_prod_is_at_least_as_strict_as_dev() -> None:
    rank = {"disabled": 0, "advisory": 1, "mandatory": 2}
    dev, prod = stack_config("dev"), stack_config("prod")
    for r in registry.RULES:
        assert rank[prod[r.name].level or ""] >= rank[dev[r.name].level or ""], r.name


def test_stack_without_a_config_file_runs_defaults_with_a_notice() -> None:
    pack = pr.InProcessPack("staging-new")
    assert {n: c.level for n, c in pack.config.items()} == {r.name: r.default_level for r in registry.RULES}
    report = pack.finish([LATEST])
    (notice,) = report.notices
    assert "policies/config/staging-new.json" in notice and "default level" in notice
    assert report.format_text().startswith(f"notice: {notice}")
    assert "images-no-latest-tag" in {v.policy for v in report.violations if v.level == "mandatory"}


# --- the runner ------------------------------------------------------------------------------------
def test_levels_from_config_are_respected(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "images-no-latest-tag": "mandatory",
            "images-pinned-by-digest": "advisory",
            "workload-probes": "disabled",
            "cost-namespace-labels": {"enforcementLevel": "advisory", "requiredLabels": ["team"]},
        },
    )
    report = analyze([LATEST, NO_PROBES, BARE_NS], "dev", config)
    got = by_policy(report)
    assert [(v.level, v.name) for v in got["images-no-latest-tag"]] == [("mandatory", "web")]
    assert {v.level for v in got["images-pinned-by-digest"]} == {"advisory"}
    assert "workload-probes" not in got, "a rule disabled in config must not report"
    (ns,) = got["cost-namespace-labels"]
    assert ns.level == "advisory" and "missing label(s) team" in ns.message and "cost-center" not in ns.message
    assert ns.urn == BARE_NS["urn"] and ns.type == "kubernetes:core/v1:Namespace"
    assert report.levels["workload-probes"] == "disabled"
    assert report.violations[0].remediation == registry.rule(report.violations[0].policy).remediation


def test_all_key_and_properties_reach_the_policies(tmp_path: Path) -> None:
    three = e.wrecord("Deployment", e.workload(name="three", replicas=3.0))
    config = write_config(
        tmp_path, {"all": "disabled", "workload-min-replicas": {"enforcementLevel": "mandatory", "minReplicas": 5}}
    )
    report = analyze([LATEST, three], "prod", config)
    assert {v.policy for v in report.violations} == {"workload-min-replicas"}
    assert {v.name for v in report.violations} == {"web", "three"}
    assert any("below the minimum of 5" in v.message for v in report.violations)
    assert report.mandatory_failures == 2


def test_stack_rules_name_the_resource_or_the_stack(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {"all": "disabled", "workload-pod-disruption-budget": "mandatory", "delivery-app-rollout": "remediate"},
    )
    covered = e.wrecord("Deployment", e.workload(name="covered"))
    pdb = e.record("kubernetes:policy/v1:PodDisruptionBudget", e.pdb("covered", {"app.kubernetes.io/name": "covered"}))
    uncovered = e.wrecord("StatefulSet", e.workload("StatefulSet", name="db"))
    got = by_policy(analyze([covered, pdb, uncovered], "prod", config))
    (v,) = got["workload-pod-disruption-budget"]
    assert (v.urn, v.type, v.level) == (uncovered["urn"], "kubernetes:apps/v1:StatefulSet", "mandatory")
    (app,) = got["delivery-app-rollout"]
    assert app.level == "mandatory" and app.urn == "" and app.name == "prod"  # remediate runs as mandatory


def test_report_json_and_text_keep_secrets_out(tmp_path: Path) -> None:
    secret = e.record(
        "kubernetes:core/v1:Secret",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db"},
            "stringData": e.secret({"password": "changeme"}),
        },
    )
    config = write_config(
        tmp_path, {"all": "disabled", "images-no-latest-tag": "mandatory", "secrets-from-pulumi-secrets": "advisory"}
    )
    report = analyze([LATEST, secret], "dev", config)
    doc = json.loads(report.to_json())
    assert doc["stack"] == "dev" and doc["policyPack"] == {"name": "hardening-policies", "version": "1.0.0"}
    assert doc["summary"]["mandatory"] == 1 and doc["summary"]["advisory"] == 1 and doc["summary"]["resources"] == 2
    assert set(doc["violations"][0]) == {"policy", "level", "severity", "urn", "type", "name", "message", "remediation"}
    text = report.format_text()
    assert "MANDATORY images-no-latest-tag" in text and "fix: Pin the image" in text
    assert text.splitlines()[-1].startswith("policy summary: 1 mandatory, 1 advisory")
    assert "changeme" not in report.to_json() and "changeme" not in text


def test_bad_config_stops_before_analysis(tmp_path: Path) -> None:
    with pytest.raises(PolicyConfigError, match="no-such-rule: no such policy"):
        pr.InProcessPack("dev", write_config(tmp_path, {"no-such-rule": "mandatory"}))
    with pytest.raises(PolicyConfigError, match="cannot read policy config"):
        pr.InProcessPack("dev", tmp_path / "missing.json")  # named explicitly: no fallback


# --- CLI ---------------------------------------------------------------------------------------------
def plan_file(tmp_path: Path, recs: list[dict[str, Any]], stack: str | None = "dev") -> Path:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({**({"stack": stack} if stack else {}), "resources": recs, "outputs": {}}))
    return plan


def test_cli_exit_codes_and_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan, out = plan_file(tmp_path, [LATEST]), tmp_path / "out" / "policy.json"
    assert pr.main(["--stack", "dev", "--plan", str(plan), "--out", str(out)]) == 1
    assert json.loads(out.read_text())["summary"]["mandatory"] >= 1
    assert "MANDATORY images-no-latest-tag" in capsys.readouterr().out
    assert pr.main(["--stack", "dev", "--plan", str(plan), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["stack"] == "dev"
    good = plan_file(tmp_path, [e.record("kubernetes:core/v1:Namespace", e.namespace())])
    config = write_config(tmp_path, {"delivery-app-rollout": "advisory"})
    assert pr.main(["--stack", "dev", "--plan", str(good), "--config", str(config), "--quiet"]) == 0
    assert capsys.readouterr().out == ""


def test_cli_bad_input_is_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert pr.main(["--stack", "dev", "--plan", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--plan /nonexistent" in err and "Traceback" not in err
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert pr.main(["--stack", "dev", "--plan", str(broken)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    bad_cfg = write_config(tmp_path, {"images-no-latest-tag": "strict"})
    assert pr.main(["--stack", "dev", "--plan", str(plan_file(tmp_path, [LATEST])), "--config", str(bad_cfg)]) == 2
    assert "'strict' is not an enforcement level" in capsys.readouterr().err
    lacking = plan_file(tmp_path, [{"urn": "x"}])
    assert pr.main(["--stack", "dev", "--plan", str(lacking)]) == 2
    assert "resource #0: lacks type, name, inputs" in capsys.readouterr().err


def test_cli_refuses_a_plan_of_another_stack_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = plan_file(tmp_path, [e.record("kubernetes:core/v1:Namespace", e.namespace(), stack="prod")], stack="prod")
    assert pr.main(["--stack", "dev", "--plan", str(plan)]) == 2
    err = capsys.readouterr().err
    assert "rendered for stack 'prod' but --stack is 'dev'" in err and "--force" in err
    assert pr.main(["--stack", "dev", "--plan", str(plan), "--force", "--quiet"]) == 0
    # Without a "stack" key the URNs say which stack the plan is for.
    bare = plan_file(tmp_path, [e.record("kubernetes:core/v1:Namespace", e.namespace(), stack="prod")], stack=None)
    assert pr.main(["--stack", "dev", "--plan", str(bare)]) == 2
    assert "rendered for stack 'prod'" in capsys.readouterr().err


def test_a_new_rule_needs_only_its_function_and_rule_declaration(tmp_path: Path) -> None:
    """The recipe of docs/POLICIES.md: one function and its Rule; the stacks run it at its default level,
    with exemptions, without touching a config file or the runner."""

    def no_web(res: Resource, config: Any) -> list[str]:
        return [f"{res.props['metadata']['name']} is called web"] if res.props["metadata"]["name"] == "web" else []

    new = registry.Rule(
        name="test-no-web",
        area="test",
        description="Nothing is called web.",
        severity="low",
        remediation="Rename it.",
        kind="resource",
        default_level="mandatory",
        check=no_web,
        applies_to=frozenset({LATEST["type"]}),
    )
    registry.RULES.append(new)
    try:
        for stack in ("dev", "prod"):
            report = pr.InProcessPack(stack).finish([LATEST, NO_PROBES])
            assert [(v.name, v.level) for v in report.violations if v.policy == "test-no-web"] == [("web", "mandatory")]
        config = write_config(tmp_path, {"test-no-web": {"exemptions": ["Deployment/apps/web"]}})
        exempted = pr.InProcessPack("dev", config).finish([LATEST])
        assert exempted.levels["test-no-web"] == "mandatory"
        assert not [v for v in exempted.violations if v.policy == "test-no-web"]
    finally:
        registry.RULES.remove(new)


def test_report_json_lists_violations_in_one_order_whatever_order_they_were_found() -> None:
    """The pack's rules can find violations in any order (set iteration differs between interpreters):
    policy.json must not, so two renders of the same stack write the same file."""
    import random

    found = [
        pr.Violation(policy, level, "high", f"urn:pulumi:s::p::t::{n}", "t", n, f"m{n}", "fix")
        for policy, level in (("b-rule", "advisory"), ("a-rule", "mandatory"), ("c-rule", "advisory"))
        for n in ("x", "y")
    ]
    texts = set()
    for seed in range(5):
        shuffled = found[:]
        random.Random(seed).shuffle(shuffled)
        texts.add(pr.Report("s", "pack", "1", 2, {}, violations=shuffled).to_json())
    assert len(texts) == 1
    listed = json.loads(texts.pop())["violations"]
    assert [(v["policy"], v["name"]) for v in listed][:3] == [("a-rule", "x"), ("a-rule", "y"), ("b-rule", "x")]
