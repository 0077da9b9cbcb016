"""The pack over the real stacks (the program under Pulumi's mocks) and over real upstream/builder output.

Deliberately broken variants of the real prod stack must fail with the rule named; the render exits 1
when a mandatory policy fails.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import versions
from policies import registry
from policies.pack_config import stack_config
from tests.policies import engine as e
from tests.support import yamlio
from tools import policy_report as pr
from tools.mockrun import Run

ROOT = Path(__file__).resolve().parents[2]


def records(run: Run) -> list[dict[str, Any]]:
    return [copy.deepcopy(r.to_record()) for r in run.resources]


def first(
    recs: list[dict[str, Any]], type_: str, pred: Callable[[dict[str, Any]], bool] = lambda r: True
) -> dict[str, Any]:
    for r in recs:
        if r["type"] == type_ and pred(r):
            return r
    raise LookupError(f"no {type_} in the stack")


def containers_of(rec: dict[str, Any]) -> list[dict[str, Any]]:
    spec = rec["inputs"]["spec"]
    if rec["type"] == "kubernetes:batch/v1:CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]["containers"]


@pytest.fixture(scope="module")
def prod_pack() -> pr.InProcessPack:
    return pr.InProcessPack("prod")


@pytest.fixture(scope="module")
def prod_baseline(stack_run: Callable[[str], Run], prod_pack: pr.InProcessPack) -> pr.Report:
    """The pack's report on the real prod stack, unbroken (read, never changed, by every broken variant)."""
    return prod_pack.finish(records(stack_run("prod")))


def mandatory(report: pr.Report) -> set[str]:
    return {v.policy for v in report.violations if v.level == "mandatory"}


def break_latest_image(recs: list[dict[str, Any]]) -> None:
    wl = first(recs, "kubernetes:apps/v1:StatefulSet")
    img = containers_of(wl)[0]["image"]
    containers_of(wl)[0]["image"] = img.split("@")[0].rsplit(":", 1)[0] + ":latest"


def break_namespace_labels(recs: list[dict[str, Any]]) -> None:
    ns = first(recs, "kubernetes:core/v1:Namespace")
    ns["inputs"]["metadata"]["labels"].pop("cost-center")


def break_workflow_scan(recs: list[dict[str, Any]]) -> None:
    """Drop the Trivy step from the program's image workflow (or add an unscanned one if CI is absent)."""
    for r in recs:
        if r["type"] == "github:index/repositoryFile:RepositoryFile" and "build-push-action" in str(
            r["inputs"].get("content")
        ):
            doc = yamlio.load(r["inputs"]["content"])
            for job in doc["jobs"].values():
                job["steps"] = [s for s in job.get("steps", []) if "trivy" not in str(s.get("uses", ""))]
            r["inputs"]["content"] = yaml.safe_dump(doc)
            return
    doc = e.build_workflow()
    doc["jobs"]["build"]["steps"] = doc["jobs"]["build"]["steps"][:2]
    recs.append(
        e.record(
            "github:index/repositoryFile:RepositoryFile",
            e.repo_file(".github/workflows/build.yml", e.workflow_yaml(doc)),
            stack="prod",
        )
    )


def break_rollout_analysis(recs: list[dict[str, Any]]) -> None:
    """Strip analysis from the app Rollout (or run the app as a Rollout without analysis if absent)."""
    for r in recs:
        if r["type"] == "kubernetes:argoproj.io/v1alpha1:Rollout":
            canary = r["inputs"]["spec"]["strategy"].get("canary") or {}
            canary.pop("analysis", None)
            canary["steps"] = [s for s in canary.get("steps", []) if "analysis" not in s]
            r["inputs"]["spec"]["strategy"] = {"canary": canary}
            return
    recs.append(
        e.wrecord(
            "Rollout",
            e.workload(
                "Rollout",
                name="orders-api",
                pod_labels={"app.kubernetes.io/name": "orders-api", "app.kubernetes.io/component": "app"},
                annotations={"prometheus.io/scrape": "true"},
                extra_spec={"strategy": {"canary": {"steps": [{"setWeight": 20.0}, {"pause": {"duration": "1m"}}]}}},
            ),
            stack="prod",
        )
    )


def break_app_service_account(recs: list[dict[str, Any]]) -> None:
    """Bind the app's ServiceAccount to cluster-admin."""
    rollout = first(recs, "kubernetes:argoproj.io/v1alpha1:Rollout")
    ns = rollout["inputs"]["metadata"]["namespace"]
    recs.append(e.binding("app-admin", "ClusterRole", "cluster-admin", [e.sa("orders-api", ns)]))


def break_workflow_injection(recs: list[dict[str, Any]]) -> None:
    """Echo the pull request title in a step of the program's CI workflow."""
    wf = first(recs, "github:index/repositoryFile:RepositoryFile", lambda r: "pull_request" in r["inputs"]["content"])
    doc = yamlio.load(wf["inputs"]["content"])
    job = next(iter(doc["jobs"].values()))
    job["steps"].append({"name": "Greet", "run": "echo ${{ github.event.pull_request.title }}"})
    wf["inputs"]["content"] = yaml.safe_dump(doc)


def break_rollout_sysctl(recs: list[dict[str, Any]]) -> None:
    """Give the app's pods an unsafe sysctl."""
    spec = first(recs, "kubernetes:argoproj.io/v1alpha1:Rollout")["inputs"]["spec"]["template"]["spec"]
    spec["securityContext"]["sysctls"] = [{"name": "kernel.core_pattern", "value": "|/bin/sh"}]


@pytest.mark.parametrize(
    ("breaker", "rule", "says"),
    [
        (break_latest_image, "images-no-latest-tag", ":latest"),
        (break_app_service_account, "rbac-workload-privileges", "to ClusterRole cluster-admin"),
        (break_workflow_injection, "ci-no-untrusted-input-in-run", "github.event.pull_request.title"),
        (break_rollout_sysctl, "workload-pod-security-baseline", "unsafe sysctl kernel.core_pattern"),
        (break_workflow_scan, "ci-image-scan", "runs no Trivy scan"),
        (break_rollout_analysis, "delivery-app-rollout", "runs no analysis"),
        (break_namespace_labels, "cost-namespace-labels", "missing label(s) cost-center"),
    ],
)
def test_broken_prod_variants_fail_with_the_rule_named(
    stack_run: Callable[[str], Run],
    prod_pack: pr.InProcessPack,
    prod_baseline: pr.Report,
    breaker: Callable[[list[dict[str, Any]]], None],
    rule: str,
    says: str,
) -> None:
    baseline = prod_baseline
    assert not any(says in v.message for v in baseline.violations)
    recs = records(stack_run("prod"))
    breaker(recs)
    report = prod_pack.finish(recs)
    hits = [v for v in report.violations if v.policy == rule and says in v.message]
    assert hits and all(v.level == "mandatory" for v in hits), report.format_text()
    assert report.mandatory_failures > baseline.mandatory_failures
    assert f"MANDATORY {rule}" in report.format_text()


def test_render_exits_1_and_names_the_rule(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from components import versions
    from tools.render import render

    monkeypatch.setitem(versions.IMAGES, "vault", "docker.io/hashicorp/vault:latest")
    buf = io.StringIO()
    assert render("dev", tmp_path / "dev", stream=buf) == 1
    out = buf.getvalue()
    assert "MANDATORY images-no-latest-tag" in out and "StatefulSet/vault/vault" in out
    report = json.loads((tmp_path / "dev" / "policy.json").read_text())
    assert report["summary"]["byPolicy"]["images-no-latest-tag"] >= 1


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_real_stacks_have_no_mandatory_violation(stack_run: Callable[[str], Run], stack: str) -> None:
    report = pr.InProcessPack(stack).finish(records(stack_run(stack)))
    assert report.mandatory_failures == 0, report.format_text()
    assert report.resources == len(stack_run(stack).resources)


# --- real builder and upstream output ---------------------------------------------------------------
def test_vault_server_hcl_builder_passes_vault_rules() -> None:
    from components.vault import server_config as sc

    tls = sc.ServerConfigInput(
        environment="prod", replicas=3, tls=sc.TlsFiles(secret_name="vault-tls"), audit_devices=(sc.AuditFileStanza(),)
    )
    cm = e.configmap("vault-config", {"vault.hcl": sc.render_server_hcl(tls)}, {"app.kubernetes.io/name": "vault"})
    assert registry.check_resource("vault-tls", "kubernetes:core/v1:ConfigMap", cm) == []
    assert registry.check_stack("vault-audit-device", [e.record("kubernetes:core/v1:ConfigMap", cm)]) == []
    plain = e.configmap("vault-config", {"vault.hcl": sc.render_server_hcl(sc.ServerConfigInput())})
    assert "tls_disable = true" in registry.check_resource("vault-tls", "kubernetes:core/v1:ConfigMap", plain)[0]


def test_vault_declarative_document_has_an_audit_device_and_no_literal_secret() -> None:
    from components.vault import declarative as d

    cfg = d.platform_config(
        workloads=[d.Workload("orders-api", "apps", "orders-api")], ci=[d.CiAccess("acme/orders-api")]
    )
    doc = json.dumps(d.to_document(cfg))
    cm = e.record("kubernetes:core/v1:ConfigMap", e.configmap("vault-declarative", {"vault-config.json": doc}))
    hcl = e.record("kubernetes:core/v1:ConfigMap", e.configmap("vault", {"vault.hcl": "ui = true\n"}))
    assert registry.check_stack("vault-audit-device", [hcl, cm]) == []
    assert registry.check_resource("secrets-no-literal-values", cm["type"], cm["inputs"]) == []


def _argo_controller(run: Run) -> dict[str, Any]:
    """The controller Deployment as ``pulumi up`` creates it: the vendored manifest, expanded like the provider
    does (offline, by ``tools.mockrun``), with the component's transform applied."""
    (rec,) = [r.to_record() for r in run.by_type("kubernetes:apps/v1:Deployment") if r.name.endswith("/argo-rollouts")]
    return json.loads(json.dumps(rec), parse_int=float)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_upstream_argo_rollouts_controller_passes_with_the_stack_exemptions(
    stack_run: Callable[[str], Run], stack: str
) -> None:
    rec = _argo_controller(stack_run(stack))
    assert "argo-rollouts:v1.9.1" in json.dumps(rec["inputs"])
    cfg = stack_config(stack)
    failing = {}
    for r in registry.RULES:
        if cfg[r.name].level != "mandatory":
            continue
        if r.kind == "resource":
            msgs = registry.check_resource(r.name, rec["type"], rec["inputs"], cfg[r.name].properties)
        elif r.name in ("delivery-app-rollout", "cost-monthly-budget"):
            continue  # about the app and the whole stack's cost, not the controller
        else:
            msgs = [f.message for f in registry.check_stack(r.name, [rec], cfg[r.name].properties)]
        if msgs:
            failing[r.name] = msgs
    assert failing == {}


def test_the_vendored_controller_needs_the_transform() -> None:
    """The manifest as vendored (no requests/limits) fails workload-resources: the transform is what fixes it."""
    from components import upstream, vendored

    path = vendored.verified(versions.ARGO_ROLLOUTS_PACKAGE, versions.ARGO_ROLLOUTS_VERSION, "install.yaml")
    objs = upstream.expand(upstream.Installed("controller", path, "argo-rollouts", ()))
    (dep,) = [props for type_, _name, props in objs if type_ == "kubernetes:apps/v1:Deployment"]
    rec = e.wrecord("Deployment", json.loads(json.dumps(dep), parse_int=float), name="argo-rollouts")
    assert registry.check_resource("workload-resources", rec["type"], rec["inputs"]) != []


def test_real_ci_workflows_pass_and_fail_once_broken() -> None:
    from components.ci.workflows import WorkflowOptions, render_workflows

    opts = WorkflowOptions(
        owner="acme",
        repository="orders-api",
        image="ghcr.io/acme/orders-api",
        deploy_railway=True,
        deploy_render=True,
        deploy_fly=True,
        vault_secrets=True,
        vault_address="https://vault.example.com",
    )
    files = render_workflows(opts)
    rules = [
        r
        for r in registry.RULES
        if r.kind == "resource" and "github:index/repositoryFile:RepositoryFile" in r.applies_to
    ]
    builds = 0
    for path, text in files.items():
        rec = e.record("github:index/repositoryFile:RepositoryFile", e.repo_file(f".github/workflows/{path}", text))
        for r in rules:
            assert registry.check_resource(r.name, rec["type"], rec["inputs"]) == [], (path, r.name)
        doc = yamlio.load(text)
        if not any("trivy" in str(s.get("uses", "")) for job in doc["jobs"].values() for s in job.get("steps", [])):
            continue
        builds += 1
        for job in doc["jobs"].values():
            job["steps"] = [s for s in job.get("steps", []) if "trivy" not in str(s.get("uses", ""))]
        broken = e.record(
            "github:index/repositoryFile:RepositoryFile", e.repo_file(f".github/workflows/{path}", yaml.safe_dump(doc))
        )
        assert registry.check_resource("ci-image-scan", broken["type"], broken["inputs"]) != [], path
    assert builds >= 1, "the CI component builds and scans the app image in at least one workflow"


@pytest.mark.parametrize("strategy", ["canary", "blueGreen"])
def test_real_canary_builders_satisfy_the_delivery_rule(strategy: str) -> None:
    from components.canary import specs

    inp = specs.DeliveryInput(
        app="orders-api", namespace="apps", strategy=strategy, preview_service="orders-api-preview"
    )
    labels = {"app.kubernetes.io/name": "orders-api", "app.kubernetes.io/component": "app"}
    rollout = e.wrecord(
        "Rollout",
        e.workload(
            "Rollout",
            name="orders-api",
            pod_labels=labels,
            annotations={"prometheus.io/scrape": "true"},
            extra_spec={"strategy": specs.rollout_strategy(inp)},
        ),
    )
    template = e.record("kubernetes:argoproj.io/v1alpha1:AnalysisTemplate", specs.analysis_template(inp))
    assert registry.check_stack("delivery-app-rollout", [rollout, template]) == []
    # Without its AnalysisTemplate the same Rollout is rejected.
    assert registry.check_stack("delivery-app-rollout", [rollout]) != []


@pytest.mark.parametrize(("retention", "ok"), [("30d", True), ("720h", True), ("45d", True), ("7d", False)])
def test_real_loki_config_builder_against_the_prod_retention(retention: str, ok: bool) -> None:
    from components.logging import loki_config

    text = loki_config.render(
        loki_config.loki_config(
            loki_config.LokiConfigInput(retention=retention, ingestion_rate_mb=4, ingestion_burst_mb=8)
        )
    )
    cm = e.configmap("loki-config", {"loki.yaml": text}, {"app.kubernetes.io/name": "loki"}, namespace="logging")
    msgs = registry.check_resource("observability-loki-retention", "kubernetes:core/v1:ConfigMap", cm, {"minDays": 30})
    assert (msgs == []) is ok, msgs


UPSTREAM_EXEMPTIONS = [
    ("workload-host-access", "DaemonSet/node-exporter/node-exporter"),
    ("rbac-no-cluster-secrets-read", "ClusterRoleBinding/argo-rollouts"),
    ("rbac-no-cluster-secrets-read", "ClusterRoleBinding/hardening-kube-state-metrics"),
    ("namespace-pod-security-level", "Namespace/node-exporter"),
    ("namespace-pod-security-level", "Namespace/vault"),
]


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize(("rule", "exemption"), UPSTREAM_EXEMPTIONS)
def test_each_named_exemption_is_needed(stack_run: Callable[[str], Run], stack: str, rule: str, exemption: str) -> None:
    """The exemptions in policies/config are narrow: without one, exactly its object fails the rule."""
    recs = records(stack_run(stack))
    cfg = stack_config(stack)[rule]
    assert cfg.level == "mandatory" and exemption in cfg.properties["exemptions"]
    without = {**cfg.properties, "exemptions": [x for x in cfg.properties["exemptions"] if x != exemption]}
    r = registry.rule(rule)
    if r.kind == "stack":
        msgs = [f.message for f in registry.check_stack(rule, recs, without)]
    else:
        msgs = [m for x in recs for m in registry.check_resource(rule, x["type"], x["inputs"], without, x["name"])]
    assert msgs and all(m.startswith(exemption + " ") or m.startswith(exemption + ":") for m in msgs), msgs


def test_budget_uses_the_stacks_own_prices(rendered: Callable[[str], Path], tmp_path: Path) -> None:
    """One source for every number: raising a price in the stack settings alone fails prod's mandatory budget,
    and the pack's figure is the render's cost estimate."""
    from tools.render import render

    ok = rendered("prod")  # the session's render of the real prod stack (exit 0)
    assert "cost-monthly-budget" not in json.loads((ok / "policy.json").read_text())["summary"]["byPolicy"]
    buf = io.StringIO()
    assert render("prod", tmp_path / "prod", overrides={"costCpuHourly": "10"}, stream=buf) == 1
    report = json.loads((tmp_path / "prod" / "policy.json").read_text())
    (v,) = [v for v in report["violations"] if v["policy"] == "cost-monthly-budget"]
    assert v["level"] == "mandatory"
    cost = json.loads((tmp_path / "prod" / "cost.json").read_text())
    from components.cost.estimate import money

    assert f"estimated monthly cost {money(cost['monthly'], 'USD')} exceeds" in v["message"]
    assert "$600.00" in v["message"] and "MANDATORY cost-monthly-budget" in buf.getvalue()


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_pricing_configmap_carries_the_cost_model_output(stack_run: Callable[[str], Run], stack: str) -> None:
    from components.cost import opencost
    from components.cost.estimate import Prices

    run = stack_run(stack)
    (cm,) = [
        r
        for r in run.by_type("kubernetes:core/v1:ConfigMap")
        if r.inputs["metadata"]["name"] == opencost.PRICING_CONFIGMAP
    ]
    model = json.loads(cm.inputs["metadata"]["annotations"][opencost.COST_MODEL_ANNOTATION])
    assert model == run.outputs["costModel"]
    settings = yamlio.load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    assert model["monthlyBudget"] == float(settings["hardening:costMonthlyBudget"])
    assert model["cpuCoreHourly"] == float(settings["hardening:costCpuHourly"])
    # OpenCost's own view of the prices (its ConfigMap data) agrees with the annotation.
    ours, theirs = Prices.from_dict(model), opencost.prices_from_pricing_config(cm.inputs["data"])
    assert theirs.cpu_core_hourly == ours.cpu_core_hourly and theirs.memory_gib_hourly == ours.memory_gib_hourly
    assert theirs.storage_gib_monthly == pytest.approx(ours.storage_gib_monthly, rel=1e-9)
