"""The rendered dev and prod stacks: estimate vs an independent computation, prices vs OpenCost, footprint."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from components.config import cpu_millicores, memory_bytes
from components.cost import opencost as oc
from components.cost.estimate import estimate_plan

ROOT = Path(__file__).resolve().parents[2]
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def _stack_prices(stack: str) -> dict[str, float]:
    cfg = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {
        k: float(cfg[f"hardening:{k}"])
        for k in (
            "costCpuHourly",
            "costMemoryGibHourly",
            "costStorageGbMonthly",
            "costLoadBalancerHourly",
            "costNodeCount",
        )
    }


def _cpu(v: object) -> float:
    return v if isinstance(v, float) else cpu_millicores(str(v)) / 1000


def _gib(v: str) -> float:
    return memory_bytes(v) / 2**30 if v[-2:] in UNITS else float(v) / 2**30


def _independent_total(plan: dict, p: dict[str, float]) -> float:  # type: ignore[type-arg]
    """Every pod template's container requests (all of ours declare them) x replicas, volumes, LBs."""
    total = 0.0
    for r in plan["resources"]:
        t, inp = r["type"], r["inputs"]
        kind = t.rsplit(":", 1)[-1]
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "Rollout"):
            pod = inp["spec"]["template"]["spec"]
            n = p["costNodeCount"] if kind == "DaemonSet" else inp["spec"].get("replicas", 1)
            # native sidecars (init containers that restart: the Vault Agent) run for the pod's whole life
            running = pod["containers"] + [
                c for c in pod.get("initContainers", []) if c.get("restartPolicy") == "Always"
            ]
            cpu = sum(_cpu(c["resources"]["requests"]["cpu"]) for c in running)
            mem = sum(_gib(c["resources"]["requests"]["memory"]) for c in running)
            for c in pod.get("initContainers", []):  # the others are small copy/setup steps
                assert _cpu(c["resources"]["requests"]["cpu"]) <= cpu, r["urn"]
            total += n * 730 * (cpu * p["costCpuHourly"] + mem * p["costMemoryGibHourly"])
            for t2 in inp["spec"].get("volumeClaimTemplates", []):
                total += n * _gib(t2["spec"]["resources"]["requests"]["storage"]) * p["costStorageGbMonthly"]
        elif kind == "PersistentVolumeClaim":
            total += _gib(inp["spec"]["resources"]["requests"]["storage"]) * p["costStorageGbMonthly"]
        elif kind == "Service" and inp.get("spec", {}).get("type") == "LoadBalancer":
            total += 730 * p["costLoadBalancerHourly"]
    return total


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_rendered_estimate_matches_independent_computation(stack: str, rendered: Callable[[str], Path]) -> None:
    out = rendered(stack)
    plan = json.loads((out / "plan.json").read_text())
    cost = json.loads((out / "cost.json").read_text())
    expected = _independent_total(plan, _stack_prices(stack))
    assert cost["monthly"] == pytest.approx(expected, abs=1e-4)
    assert estimate_plan(plan).monthly == pytest.approx(expected, abs=1e-6)
    assert "CostVisibility/cost" in cost["byComponent"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_opencost_pricing_configmap_has_the_estimate_prices(stack: str, rendered: Callable[[str], Path]) -> None:
    plan = json.loads((rendered(stack) / "plan.json").read_text())
    cm = next(
        r
        for r in plan["resources"]
        if r["type"] == "kubernetes:core/v1:ConfigMap" and r["inputs"]["metadata"]["name"] == oc.PRICING_CONFIGMAP
    )
    from_opencost = oc.prices_from_pricing_config(cm["inputs"]["data"], plan["outputs"]["costModel"]["daemonSetNodes"])
    model = plan["outputs"]["costModel"]
    assert from_opencost.cpu_core_hourly == model["cpuCoreHourly"]
    assert from_opencost.memory_gib_hourly == model["memoryGibHourly"]
    assert from_opencost.storage_gib_monthly == pytest.approx(model["storageGibMonthly"], rel=1e-9)
    assert from_opencost.load_balancer_hourly == model["loadBalancerHourly"]
    deploy = next(
        r
        for r in plan["resources"]
        if r["type"] == "kubernetes:apps/v1:Deployment" and r["inputs"]["metadata"]["name"] == oc.NAME
    )
    env = {e["name"]: e.get("value") for e in deploy["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["PROMETHEUS_SERVER_ENDPOINT"] == "http://prometheus.monitoring.svc:9090"
    assert env["PRICING_CONFIGMAP_NAME"] == oc.PRICING_CONFIGMAP


def test_opencost_rbac_is_read_only(rendered: Callable[[str], Path]) -> None:
    plan = json.loads((rendered("dev") / "plan.json").read_text())
    role = next(
        r
        for r in plan["resources"]
        if r["type"] == "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
        and r["inputs"]["metadata"]["name"] == "hardening-opencost"
    )
    verbs = {v for rule in role["inputs"]["rules"] for v in rule["verbs"]}
    assert verbs <= oc.READ_VERBS
    assert not any("secrets" in rule["resources"] for rule in role["inputs"]["rules"])


def test_dev_platform_fits_one_4_vcpu_8_gib_node(rendered: Callable[[str], Path]) -> None:
    """Everything the project deploys, by requests, on the dev stack's single node."""
    cost = json.loads((rendered("dev") / "cost.json").read_text())
    assert cost["prices"]["daemonSetNodes"] == 1
    # Upstream release manifests (the Argo Rollouts controller) are not in the plan: count one container
    # at the namespace LimitRange default for each (their controller declares no requests).
    cfg = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    defaults = cfg["hardening:containerDefaults"].split()
    extra_cpu = cpu_millicores(defaults[0].split("=")[1].split("/")[0]) / 1000
    extra_mem = _gib(defaults[1].split("=")[1].split("/")[0])
    upstream = [s for s in cost["skipped"] if "ConfigFile" in s["type"]]
    cpu = cost["total"]["cpuCores"] + len(upstream) * extra_cpu
    mem = cost["total"]["memoryGib"] + len(upstream) * extra_mem
    assert cpu <= 4.0, (cpu, cost["total"])
    assert mem <= 8.0, (mem, cost["total"])
