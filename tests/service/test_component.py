"""The Service component as the stacks register it (the real program under Pulumi's mocks), and onboarding a
third service with nothing but a folder and one stack entry."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.canary import specs
from components.service import component
from policies.registry import check_stack
from tests.service.stacks import add_service, edit_yaml, project_copy, select
from tests.support.crds import validate_custom_resource
from tools import render
from tools.mockrun import Resource, Run, run_stack

ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
TEMPLATE = "kubernetes:argoproj.io/v1alpha1:AnalysisTemplate"
SERVICES = {"dev": ["orders-api"], "prod": ["go-deployment-demo", "orders-api"]}


def _doc(res: Resource) -> dict[str, Any]:
    return {k: v for k, v in res.inputs.items() if k in ("apiVersion", "kind", "metadata", "spec")}


def _of(run: Run, service: str) -> list[Resource]:
    comp = run.get(component.TYPE, service)
    return [r for r in run.resources if r is not comp and run.component_of(r) is comp and r.custom]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_one_rollout_and_template_per_service_validate_against_the_crds(
    stack_run: Callable[[str], Run], stack: str
) -> None:
    run = stack_run(stack)
    rollouts = {r.inputs["metadata"]["name"]: r for r in run.by_type(ROLLOUT)}
    assert sorted(rollouts) == SERVICES[stack]
    for res in (*rollouts.values(), *run.by_type(TEMPLATE)):
        validate_custom_resource(_doc(res))
    assert rollouts["orders-api"].inputs["metadata"]["namespace"] == "web"
    assert rollouts["orders-api"].inputs["spec"]["template"]["spec"]["serviceAccountName"] == "orders-api"
    assert sorted(run.outputs["services"]) == SERVICES[stack]


def test_prod_objects_around_each_rollout(stack_run: Callable[[str], Run]) -> None:
    run = stack_run("prod")
    for name, ns in (("orders-api", "web"), ("go-deployment-demo", "demo")):
        kinds = sorted(
            (r.inputs.get("kind"), r.inputs["metadata"]["name"]) for r in _of(run, name) if r.type.startswith("kube")
        )
        agent = [("ConfigMap", f"{name}-vault-agent")] if name == "go-deployment-demo" else []
        assert kinds == sorted(
            [
                *agent,
                ("AnalysisTemplate", f"{name}-slo"),
                ("HorizontalPodAutoscaler", name),
                ("Ingress", name),
                ("NetworkPolicy", f"allow-{name}"),
                ("PodDisruptionBudget", name),
                ("Rollout", name),
                ("Service", name),
                ("Service", f"{name}-canary"),
                ("ServiceAccount", name),
            ]
        ), name
        assert all(r.inputs["metadata"]["namespace"] == ns for r in _of(run, name) if r.type.startswith("kube"))
    hpa = run.get("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "orders-api").inputs["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": specs.API_VERSION, "kind": "Rollout", "name": "orders-api"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 10)
    ingress = run.get("kubernetes:networking.k8s.io/v1:Ingress", "go-deployment-demo")
    assert ingress.inputs["spec"]["rules"][0]["host"] == "demo.example.com"
    # not awaited, and the Rollout does not wait for it (an ingress controller may publish no address)
    assert ingress.inputs["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
    out = run.outputs["services"]["go-deployment-demo"]
    assert out["namespace"] == "demo" and out["url"] == "http://go-deployment-demo.demo.svc"
    assert out["publicUrl"] == "https://demo.example.com" and out["vaultRole"] == "go-deployment-demo"
    assert out["canaryServiceName"] == "go-deployment-demo-canary"


def test_the_agent_service_gets_the_sidecar_and_its_role_the_token_audience(stack_run: Callable[[str], Run]) -> None:
    run = stack_run("prod")
    pod = run.get(ROLLOUT, "go-deployment-demo").inputs["spec"]["template"]["spec"]
    (sidecar,) = pod["initContainers"]
    assert sidecar["name"] == "vault-agent" and sidecar["restartPolicy"] == "Always"
    assert any(m["mountPath"] == "/etc/vault-ca" for m in sidecar["volumeMounts"])  # prod: Vault over TLS
    assert pod["automountServiceAccountToken"] is False
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["DB_PASSWORD_FILE"].startswith("/vault/secrets/") and "DB_PASSWORD" not in env
    doc = json.loads(
        run.get("kubernetes:core/v1:ConfigMap", "vault-declarative-config").inputs["data"]["vault-config.json"]
    )
    roles = doc["auth"]["kubernetes"]["roles"]
    assert roles["go-deployment-demo"]["audience"] == "vault" and "audience" not in roles["orders-api"]


def test_dev_has_no_ingress_and_no_hpa(stack_run: Callable[[str], Run]) -> None:
    kinds = {r.inputs.get("kind") for r in _of(stack_run("dev"), "orders-api")}
    assert "Ingress" not in kinds and "HorizontalPodAutoscaler" not in kinds


def test_delivery_and_disruption_policies_pass(stack_run: Callable[[str], Run]) -> None:
    for stack in ("dev", "prod"):
        records = [r.to_record() for r in stack_run(stack).resources]
        assert check_stack("delivery-app-rollout", records) == [], stack
        findings = check_stack("workload-pod-disruption-budget", records)
        assert not [f for f in findings if any(s in f.message for s in SERVICES[stack])], findings


def test_each_service_namespace_has_a_quota_sized_for_it(stack_run: Callable[[str], Run]) -> None:
    run = stack_run("prod")
    quotas = {
        r.inputs["metadata"]["namespace"]: r.inputs["spec"]["hard"]
        for r in run.by_type("kubernetes:core/v1:ResourceQuota")
    }
    # orders-api: 2 x 10 pods (HPA max plus a full canary ReplicaSet) x 1 CPU limit, x 1.25 headroom
    assert quotas["web"]["limits.cpu"] == "25000m" and quotas["web"]["pods"] == "25"
    assert quotas["demo"]["limits.cpu"] == "3750m"
    ns = {
        r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"]
        for r in run.by_type("kubernetes:core/v1:Namespace")
    }
    assert ns["demo"]["team"] == "demo" and ns["demo"]["cost-center"] == "cc-demo"


def test_blue_green_from_the_platform_section(tmp_path: Path) -> None:
    root = project_copy(
        tmp_path,
        lambda r: edit_yaml(
            r / "services/orders-api/platform.yaml", lambda d: d["delivery"].__setitem__("strategy", "blueGreen")
        ),
    )
    run = run_stack("prod", root=root)
    rollout = run.get(ROLLOUT, "orders-api")
    validate_custom_resource(_doc(rollout))
    bg = rollout.inputs["spec"]["strategy"]["blueGreen"]
    assert (bg["activeService"], bg["previewService"]) == ("orders-api", "orders-api-preview")
    assert run.outputs["services"]["orders-api"]["canaryServiceName"] == "orders-api-preview"


THIRD_SCORE = {
    "apiVersion": "score.dev/v1b1",
    "metadata": {"name": "billing"},
    "containers": {
        "main": {
            "image": "ghcr.io/acme/billing:0.4.0",
            "variables": {"NODE_ENV": "production", "STRIPE_KEY": "${resources.stripe.api_key}"},
            "livenessProbe": {"httpGet": {"path": "/livez", "port": 7000}},
            "readinessProbe": {"httpGet": {"path": "/readyz", "port": 7000}},
        }
    },
    "service": {"ports": {"api": {"port": 80, "targetPort": 7000}}},
    "resources": {"stripe": {"type": "vault-secret", "params": {"keys": ["api_key"]}}},
}
THIRD_PLATFORM = {
    "apiVersion": "hardening/v1",
    "kind": "ServicePlatform",
    "team": "payments",
    "costCenter": "cc-payments",
    "metrics": {"port": 7000, "path": "/prom"},
    "slos": [{"name": "availability", "kind": "availability", "objective": 99.95, "window": "30d"}],
    "repository": {"owner": "acme", "name": "billing", "language": "node", "testCommand": "npm test"},
}


def test_a_third_service_is_a_folder_and_one_stack_entry(tmp_path: Path) -> None:
    def onboard(root: Path) -> None:
        add_service(root, "billing", THIRD_SCORE, THIRD_PLATFORM)
        select(root, "prod", "billing", {"tag": "0.4.1", "replicas": 2})

    root = project_copy(tmp_path, onboard)
    out = tmp_path / "dist"
    assert render.render("prod", out, stream=io.StringIO(), root=root) == 0
    plan = json.loads((out / "plan.json").read_text())
    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in plan["resources"]:
        by_type.setdefault(r["type"], []).append(r)

    # the Rollout, in the team's namespace, at the stack's tag
    (rollout,) = [r for r in by_type[ROLLOUT] if r["inputs"]["metadata"]["name"] == "billing"]
    assert rollout["inputs"]["metadata"]["namespace"] == "payments"
    (container,) = rollout["inputs"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "ghcr.io/acme/billing:0.4.1"
    # its scrape (the pod opts in on its own port and path)
    annotations = rollout["inputs"]["spec"]["template"]["metadata"]["annotations"]
    assert (annotations["prometheus.io/port"], annotations["prometheus.io/path"]) == ("7000", "/prom")
    # the Vault role and policy, bound to its ServiceAccount in its namespace
    vault_cm = next(r for r in by_type["kubernetes:core/v1:ConfigMap"] if r["name"] == "vault-declarative-config")
    doc = json.loads(vault_cm["inputs"]["data"]["vault-config.json"])
    role = doc["auth"]["kubernetes"]["roles"]["billing"]
    assert role["bound_service_account_names"] == ["billing"]
    assert role["bound_service_account_namespaces"] == ["payments"]
    assert "app-billing" in doc["policies"]
    # the cost line, by its team
    cost = json.loads((out / "cost.json").read_text())
    assert "Service/billing" in json.dumps(cost) and "payments" in json.dumps(cost)
    # the workflows of its repository
    assert (out / "workflows" / "billing" / ".github" / "workflows" / "ci-cd.yml").is_file()
    # its output entry
    assert plan["outputs"]["services"]["billing"]["namespace"] == "payments"
    # the Namespace with the team's labels and a quota
    ns = next(r for r in by_type["kubernetes:core/v1:Namespace"] if r["inputs"]["metadata"]["name"] == "payments")
    assert ns["inputs"]["metadata"]["labels"]["team"] == "payments"
    manifests = (out / "k8s").glob("*.yaml")
    assert any("name: billing" in p.read_text() for p in manifests)
    assert yaml.safe_load((out / "policy.json").read_text())["summary"]["mandatory"] == 0
