"""The pack as the engine runs it: a real subprocess serving the Analyzer gRPC API on 127.0.0.1.

Also the in-process adapter (pulumi_policy's own deserializer and unknown-checking proxy) and the
CLI-compatible reconciliation of policy config.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from policies import registry
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


def by_policy(report: pr.Report) -> dict[str, list[pr.Violation]]:
    out: dict[str, list[pr.Violation]] = {}
    for v in report.violations:
        out.setdefault(v.policy, []).append(v)
    return out


# --- in-process: the CrossGuard adapter over pulumi_policy's own data path ------------------------------
def test_adapter_reads_pulumi_policy_proxies_with_secrets_and_unknowns() -> None:
    from pulumi_policy import ResourceValidationArgs
    from pulumi_policy.deserialize import deserialize_properties
    from pulumi_policy.proxy import unknown_checking_proxy

    policies = {p.name: p for p in registry.pulumi_policies()}
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    props = e.workload(
        spec=e.pod_spec(
            [
                e.container(
                    image="nginx:latest",
                    env=[
                        {"name": "DB_PASSWORD", "value": e.secret("hunter2hunter2")},
                        {"name": "HOST", "value": unknown},
                    ],
                )
            ]
        )
    )
    # Exactly what _PolicyAnalyzerServicer.Analyze does with the engine's properties.
    proxied = unknown_checking_proxy(deserialize_properties(props))
    reported: list[str] = []
    for name in ("images-no-latest-tag", "secrets-no-literal-values", "workload-probes"):
        args = ResourceValidationArgs("kubernetes:apps/v1:Deployment", proxied, "urn:x", "web", None, None, None)  # type: ignore[arg-type]
        policies[name].validate(args, lambda msg, urn=None: reported.append(msg))
    assert any("mutable tag 'latest'" in m for m in reported)
    assert any("DB_PASSWORD is a literal" in m for m in reported)
    assert not any("hunter2" in m for m in reported)
    assert len(reported) == 2


def test_every_rule_becomes_one_policy_with_its_metadata() -> None:
    from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

    policies = registry.pulumi_policies()
    assert [p.name for p in policies] == [r.name for r in registry.RULES]
    assert len({r.name for r in registry.RULES}) == len(registry.RULES)
    for p, r in zip(policies, registry.RULES, strict=True):
        assert isinstance(p, ResourceValidationPolicy if r.kind == "resource" else StackValidationPolicy)
        assert p.remediation_steps == r.remediation and p.severity is not None and p.severity.value == r.severity
        assert r.default_level in registry.LEVELS and r.severity in registry.SEVERITIES
        assert r.kind == "stack" or r.applies_to, f"{r.name} applies to no resource type"


# --- policy config: parse, reconcile and validate like the CLI ---------------------------------------
def test_reconcile_defaults_all_then_specific() -> None:
    infos = pr.registry_infos()
    cfg = pr.reconcile(
        infos,
        pr.parse_policy_config(
            {"all": "disabled", "workload-min-replicas": {"enforcementLevel": "mandatory", "minReplicas": 3}}
        ),
    )
    assert cfg["images-no-latest-tag"].level == "disabled"
    assert cfg["workload-min-replicas"].level == "mandatory"
    assert cfg["workload-min-replicas"].properties["minReplicas"] == 3
    assert cfg["workload-min-replicas"].properties["exemptions"] == []  # schema default kept
    plain = pr.reconcile(infos, {})
    assert {n: c.level for n, c in plain.items()} == {r.name: r.default_level for r in registry.RULES}


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"images-no-latest-tag": "strict"}, "images-no-latest-tag: 'strict' is not an enforcement level"),
        ({"images-no-latest-tag": {"enforcementLevel": 2}}, "images-no-latest-tag.enforcementLevel"),
        ({"images-no-latst-tag": "mandatory"}, "images-no-latst-tag: no such policy"),
        ({"workload-min-replicas": {"minReplica": 2}}, "workload-min-replicas.minReplica: unknown property"),
        ({"workload-min-replicas": {"minReplicas": "two"}}, "workload-min-replicas.minReplicas: expected number"),
        ({"workload-min-replicas": {"minReplicas": 0}}, "below the minimum 1"),
        ({"images-allowed-registries": {"allowedRegistries": ["ok", 3]}}, "allowedRegistries: [1]: expected string"),
        ({"images-no-latest-tag": ["mandatory"]}, "must be a level string or an object"),
    ],
)
def test_invalid_config_names_the_key(data: Any, says: str) -> None:
    with pytest.raises(pr.PolicyConfigError) as exc:
        pr.reconcile(pr.registry_infos(), pr.parse_policy_config(data))
    assert says in str(exc.value)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_configs_are_valid_and_name_every_rule(stack: str) -> None:
    raw = json.loads(pr.default_config_path(stack).read_text())
    assert set(raw) == {r.name for r in registry.RULES}, "each stack config sets every rule's level explicitly"
    cfg = pr.reconcile(pr.registry_infos(), pr.load_policy_config(pr.default_config_path(stack)))
    assert all(c.level in ("advisory", "mandatory", "disabled") for c in cfg.values())


def test_prod_is_at_least_as_strict_as_dev() -> None:
    rank = {"disabled": 0, "advisory": 1, "mandatory": 2}
    infos = pr.registry_infos()
    dev = pr.reconcile(infos, pr.load_policy_config(pr.default_config_path("dev")))
    prod = pr.reconcile(infos, pr.load_policy_config(pr.default_config_path("prod")))
    for r in registry.RULES:
        assert rank[prod[r.name].level or ""] >= rank[dev[r.name].level or ""], r.name


# --- the real pack over gRPC -------------------------------------------------------------------------
@pytest.mark.server
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
    report = pr.run_pack([LATEST, NO_PROBES, BARE_NS], "dev", config)
    got = by_policy(report)
    assert [(v.level, v.name) for v in got["images-no-latest-tag"]] == [("mandatory", "web")]
    assert {v.level for v in got["images-pinned-by-digest"]} == {"advisory"}
    assert "workload-probes" not in got, "a rule disabled in config must not report"
    (ns,) = got["cost-namespace-labels"]
    assert ns.level == "advisory" and "missing label(s) team" in ns.message and "cost-center" not in ns.message
    assert ns.urn == BARE_NS["urn"] and ns.type == "kubernetes:core/v1:Namespace"
    assert report.levels["workload-probes"] == "disabled"
    assert report.mandatory_failures == len([v for v in report.violations if v.level == "mandatory"]) >= 1
    assert report.violations[0].remediation == next(
        r.remediation for r in registry.RULES if r.name == report.violations[0].policy
    )


@pytest.mark.server
def test_all_key_and_properties_reach_the_pack(tmp_path: Path) -> None:
    three = e.wrecord("Deployment", e.workload(name="three", replicas=3.0))
    config = write_config(
        tmp_path, {"all": "disabled", "workload-min-replicas": {"enforcementLevel": "mandatory", "minReplicas": 5}}
    )
    report = pr.run_pack([LATEST, three], "prod", config)
    assert {v.policy for v in report.violations} == {"workload-min-replicas"}
    assert {v.name for v in report.violations} == {"web", "three"}
    assert any("below the minimum of 5" in v.message for v in report.violations)
    assert report.mandatory_failures == 2


@pytest.mark.server
def test_stack_rules_run_through_analyze_stack_and_name_the_resource(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, {"all": "disabled", "workload-pod-disruption-budget": "mandatory", "delivery-app-rollout": "advisory"}
    )
    covered = e.wrecord("Deployment", e.workload(name="covered"))
    pdb = e.record("kubernetes:policy/v1:PodDisruptionBudget", e.pdb("covered", {"app.kubernetes.io/name": "covered"}))
    uncovered = e.wrecord("StatefulSet", e.workload("StatefulSet", name="db"))
    report = pr.run_pack([covered, pdb, uncovered], "prod", config)
    got = by_policy(report)
    (v,) = got["workload-pod-disruption-budget"]
    assert (v.urn, v.type, v.level) == (uncovered["urn"], "kubernetes:apps/v1:StatefulSet", "mandatory")
    (app,) = got["delivery-app-rollout"]
    assert app.level == "advisory" and app.urn == "" and app.name == "prod"


@pytest.mark.server
def test_process_starts_early_and_stops(tmp_path: Path) -> None:
    pack = pr.PolicyPackProcess(
        "dev", write_config(tmp_path, {"all": "disabled", "secrets-from-pulumi-secrets": "mandatory"})
    )
    pack.start()
    assert pack.proc is not None
    pid = pack.proc.pid
    try:
        secret_ns = e.record(
            "kubernetes:core/v1:Secret",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "db", "namespace": "apps"},
                "stringData": e.secret({"password": "changeme"}),
            },
        )
        report = pack.analyze([secret_ns])
    finally:
        pack.stop()
    assert pack.proc is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    (v,) = report.violations
    assert v.policy == "secrets-from-pulumi-secrets" and v.level == "mandatory"
    assert "changeme" not in report.to_json() and "changeme" not in report.format_text()


@pytest.mark.server
def test_report_json_and_text(tmp_path: Path) -> None:
    report = pr.run_pack(
        [LATEST], "dev", write_config(tmp_path, {"all": "disabled", "images-no-latest-tag": "mandatory"})
    )
    doc = json.loads(report.to_json())
    assert doc["stack"] == "dev" and doc["policyPack"] == {"name": "hardening-policies", "version": "1.0.0"}
    assert doc["summary"]["mandatory"] == 1 and doc["summary"]["resources"] == 1
    assert doc["summary"]["byPolicy"] == {"images-no-latest-tag": 1}
    (v,) = doc["violations"]
    assert set(v) == {"policy", "level", "severity", "urn", "type", "name", "message", "remediation"}
    text = report.format_text()
    assert "MANDATORY images-no-latest-tag" in text and "fix: Pin the image" in text
    assert text.splitlines()[-1].startswith("policy summary: 1 mandatory")


@pytest.mark.server
def test_bad_config_stops_before_analysis(tmp_path: Path) -> None:
    with pytest.raises(pr.PolicyConfigError, match="no-such-rule: no such policy"):
        pr.run_pack([LATEST], "dev", write_config(tmp_path, {"no-such-rule": "mandatory"}))


@pytest.mark.server
def test_broken_pack_fails_with_its_stderr(tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text("raise SystemExit('pack exploded on purpose')\n")
    with pytest.raises(pr.PolicyPackError, match="pack exploded on purpose"):
        pr.run_pack([LATEST], "dev", pr.default_config_path("dev"), pack_dir=tmp_path)


@pytest.mark.server
def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"resources": [LATEST]}))
    out = tmp_path / "policy.json"
    assert pr.main(["--stack", "dev", "--plan", str(plan), "--out", str(out)]) == 1
    assert json.loads(out.read_text())["summary"]["mandatory"] >= 1
    assert "images-no-latest-tag" in capsys.readouterr().out
    good = e.record("kubernetes:core/v1:Namespace", e.namespace())
    plan.write_text(json.dumps({"resources": [good]}))
    config = write_config(tmp_path, {"delivery-app-rollout": "advisory"})
    assert pr.main(["--stack", "dev", "--plan", str(plan), "--config", str(config)]) == 0


@pytest.mark.server
def test_streaming_submit_and_skipping_unread_types_change_nothing(tmp_path: Path) -> None:
    netpol = e.record(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "deny", "namespace": "apps"},
            "spec": {"podSelector": {}},
        },
    )
    recs = [LATEST, NO_PROBES, BARE_NS, netpol]
    config = write_config(tmp_path, {"delivery-app-rollout": "advisory"})

    def key(report: pr.Report) -> list[tuple[str, str, str, str]]:
        return sorted((v.policy, v.level, v.urn, v.message) for v in report.violations)

    with pr.PolicyPackProcess("dev", config, skip_unread_types=False) as everything:
        sent_all = everything.analyze(recs)
    with pr.PolicyPackProcess("dev", config) as streaming:
        streaming.begin()
        for rec in recs[:2]:
            streaming.submit(rec)  # as the program registers them
        streamed = streaming.finish(recs)
        types = streaming._analyze_types()
        assert types is not None and netpol["type"] not in types and LATEST["type"] in types
        again = streaming.analyze(recs)  # a second analysis on the same process starts a fresh session
    assert key(sent_all) == key(streamed) == key(again) and sent_all.resources == streamed.resources == 4
    assert sent_all.mandatory_failures > 0


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_budget_prices_match_the_stack_settings(stack: str) -> None:
    """The pack cannot read stack outputs, so its copy of the cost model must equal Pulumi.<stack>.yaml."""
    import yaml

    settings = yaml.safe_load((pr.ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    cfg = json.loads(pr.default_config_path(stack).read_text())["cost-monthly-budget"]
    pairs = {
        "cpuCoreHourly": "costCpuHourly",
        "memoryGibHourly": "costMemoryGibHourly",
        "storageGibMonthly": "costStorageGbMonthly",
        "loadBalancerHourly": "costLoadBalancerHourly",
        "daemonSetNodes": "costNodeCount",
        "monthlyBudget": "costMonthlyBudget",
    }
    for ours, theirs in pairs.items():
        assert float(cfg[ours]) == float(settings[f"hardening:{theirs}"]), (ours, theirs)
