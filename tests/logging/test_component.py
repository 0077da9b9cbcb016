"""The Logging component under Pulumi's mocks, for each stack's real configuration.

``tests/logging/program.py`` registers only the Logging component (as ``__main__.py`` does), so these
tests check what it renders on its own: the objects, their wiring (Alloy -> the rendered Loki Service,
the config file Loki is started with, the volume the compactor works on), the DaemonSet's host access
(none: logs come through the API), RBAC, NetworkPolicies, the policy pack's resource rules and, with
``-m tools``, strict schema validation with kubernetes-validate.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import conventions as cv
from components.logging import names
from tests.logging import river
from tests.logging.support import settings_for
from tools.mockrun import Resource, Run, run_stack

PROGRAM = Path(__file__).with_name("program.py")
STACKS = ("dev", "prod")
T = {
    "sts": "kubernetes:apps/v1:StatefulSet",
    "ds": "kubernetes:apps/v1:DaemonSet",
    "svc": "kubernetes:core/v1:Service",
    "cm": "kubernetes:core/v1:ConfigMap",
    "sa": "kubernetes:core/v1:ServiceAccount",
    "cr": "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
    "crb": "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
    "np": "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    "pdb": "kubernetes:policy/v1:PodDisruptionBudget",
}
CLUSTER_SCOPED = {T["cr"], T["crb"]}


@pytest.fixture(scope="module")
def run() -> Callable[[str], Run]:
    cache: dict[str, Run] = {}

    def get(stack: str) -> Run:
        if stack not in cache:
            cache[stack] = run_stack(stack, main=PROGRAM)
        return cache[stack]

    return get


def _pod(res: Resource) -> dict[str, Any]:
    spec: dict[str, Any] = res.inputs["spec"]["template"]["spec"]
    return spec


def _container(res: Resource) -> dict[str, Any]:
    containers = _pod(res)["containers"]
    assert len(containers) == 1
    c: dict[str, Any] = containers[0]
    return c


def _k8s(r: Run) -> list[Resource]:
    return [x for x in r.resources if x.type.startswith("kubernetes:") and x.custom]


@pytest.mark.parametrize("stack", STACKS)
def test_component_registers_its_objects_as_children(run: Callable[[str], Run], stack: str) -> None:
    r = run(stack)
    comp = r.get("hardening:logging:Logging", "logging")
    objs = _k8s(r)
    assert sorted((x.type.rsplit(":", 1)[1], x.name) for x in objs) == sorted(
        [
            ("StatefulSet", "loki"),
            ("Service", "loki"),
            ("Service", "loki-headless"),
            ("ConfigMap", "loki-config"),
            ("ServiceAccount", "loki"),
            ("PodDisruptionBudget", "loki"),
            ("NetworkPolicy", "loki-allow"),
            ("DaemonSet", "alloy"),
            ("ConfigMap", "alloy-config"),
            ("ServiceAccount", "alloy"),
            ("ClusterRole", "alloy"),
            ("ClusterRoleBinding", "alloy"),
            ("NetworkPolicy", "alloy-allow"),
        ]
    )
    for x in objs:
        assert x.parent == comp.urn, x.name
        meta = x.inputs["metadata"]
        assert meta["name"], x.name
        if x.type in CLUSTER_SCOPED:
            assert "namespace" not in meta
        else:
            assert meta["namespace"] == cv.NS_LOGGING, x.name


@pytest.mark.parametrize("stack", STACKS)
def test_outputs_are_the_push_and_query_urls(run: Callable[[str], Run], stack: str) -> None:
    assert run(stack).outputs == {
        "lokiPushUrl": "http://loki.logging.svc:3100/loki/api/v1/push",
        "lokiQueryUrl": "http://loki.logging.svc:3100",
    }


@pytest.mark.parametrize("stack", STACKS)
def test_loki_config_map_follows_the_policy_convention(run: Callable[[str], Run], stack: str) -> None:
    cm = run(stack).get(T["cm"], "loki-config")
    assert cm.inputs["metadata"]["labels"][cv.LABEL_NAME] == "loki"
    assert set(cm.inputs["data"]) == {"loki.yaml"}
    doc = yaml.safe_load(cm.inputs["data"]["loki.yaml"])
    assert doc["compactor"]["retention_enabled"] is True
    hours = {"dev": 7 * 24, "prod": 30 * 24}[stack]
    assert doc["limits_config"]["retention_period"] == f"{hours}h"


@pytest.mark.parametrize("stack", STACKS)
def test_loki_runs_the_rendered_config_on_its_persistent_volume(run: Callable[[str], Run], stack: str) -> None:
    r = run(stack)
    s = settings_for(stack)
    sts = r.get(T["sts"], "loki")
    spec = sts.inputs["spec"]
    assert spec["replicas"] == 1 and spec["serviceName"] == "loki-headless"
    c = _container(sts)
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in _pod(sts)["volumes"]}
    # -config.file is the ConfigMap key, mounted read-only
    config_arg = next(a for a in c["args"] if a.startswith("-config.file="))
    config_path = config_arg.split("=", 1)[1]
    assert config_path == f"{mounts['config']['mountPath']}/loki.yaml" and mounts["config"]["readOnly"] is True
    assert volumes["config"]["configMap"]["name"] == "loki-config"
    assert "-target=all" in c["args"]
    # the compactor's working directory, WAL and chunks are on the volume claim, not on an emptyDir
    doc = yaml.safe_load(r.get(T["cm"], "loki-config").inputs["data"]["loki.yaml"])
    data_mount = mounts["data"]["mountPath"]
    assert "data" not in volumes  # it comes from the volumeClaimTemplate
    for path in (
        doc["compactor"]["working_directory"],
        doc["ingester"]["wal"]["dir"],
        doc["common"]["storage"]["filesystem"]["chunks_directory"],
    ):
        assert path.startswith(data_mount + "/"), path
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == s.logging.storage
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}


@pytest.mark.parametrize("stack", STACKS)
def test_loki_container_probes_security_and_resources(run: Callable[[str], Run], stack: str) -> None:
    s = settings_for(stack)
    sts = run(stack).get(T["sts"], "loki")
    c = _container(sts)
    assert c["image"] == "docker.io/grafana/loki:3.7.5"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http-metrics": 3100, "grpc": 9095}
    # no shell in the image: every probe is an HTTP GET on the named HTTP port
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert set(c[probe]) >= {"httpGet"} and "exec" not in c[probe], probe
        assert c[probe]["httpGet"]["port"] == "http-metrics"
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["startupProbe"]["httpGet"]["path"] == "/ready"
    sc = c["securityContext"]
    assert sc == {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    pod = _pod(sts)
    assert pod["securityContext"]["runAsUser"] == 10001 and pod["securityContext"]["fsGroup"] == 10001
    assert pod["automountServiceAccountToken"] is False
    assert c["resources"] == s.logging.resources.as_k8s()


@pytest.mark.parametrize("stack", STACKS)
def test_loki_services_select_the_pod_and_expose_http_and_grpc(run: Callable[[str], Run], stack: str) -> None:
    r = run(stack)
    pod_labels = r.get(T["sts"], "loki").inputs["spec"]["template"]["metadata"]["labels"]
    for name in ("loki", "loki-headless"):
        svc = r.get(T["svc"], name).inputs["spec"]
        assert all(pod_labels.get(k) == v for k, v in svc["selector"].items()) and svc["selector"]
        assert {(p["name"], p["port"], p["targetPort"]) for p in svc["ports"]} == {
            ("http-metrics", 3100, "http-metrics"),
            ("grpc", 9095, "grpc"),
        }
    assert r.get(T["svc"], "loki-headless").inputs["spec"]["clusterIP"] == "None"
    pdb = r.get(T["pdb"], "loki").inputs["spec"]
    assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()


@pytest.mark.parametrize("stack", STACKS)
def test_alloy_sends_to_the_rendered_loki_service(run: Callable[[str], Run], stack: str) -> None:
    r = run(stack)
    text = r.get(T["cm"], "alloy-config").inputs["data"]["config.alloy"]
    url = river.parse(text).one("loki.write", "loki").one("endpoint").attrs["url"]
    host_port, _, path = url.removeprefix("http://").partition("/")
    host, _, port = host_port.partition(":")
    service, namespace, svc_suffix = host.split(".")
    svc = r.get(T["svc"], service)
    assert (namespace, svc_suffix) == (svc.inputs["metadata"]["namespace"], "svc")
    assert int(port) in {p["port"] for p in svc.inputs["spec"]["ports"]}
    assert "/" + path == "/loki/api/v1/push"
    # and the Alloy NetworkPolicy lets exactly that port out to the Loki pods
    egress = r.get(T["np"], "alloy-allow").inputs["spec"]["egress"]
    loki_rule = next(e for e in egress if e["to"][0].get("podSelector"))
    assert loki_rule["to"][0]["podSelector"]["matchLabels"] == svc.inputs["spec"]["selector"]
    assert [p["port"] for p in loki_rule["ports"]] == [int(port)]


@pytest.mark.parametrize("stack", STACKS)
def test_alloy_daemonset_has_no_host_access_at_all(run: Callable[[str], Run], stack: str) -> None:
    ds = run(stack).get(T["ds"], "alloy")
    pod = _pod(ds)
    for flag in ("hostNetwork", "hostPID", "hostIPC", "hostUsers"):
        assert flag not in pod, flag
    assert {v["name"]: sorted(set(v) - {"name"}) for v in pod["volumes"]} == {
        "config": ["configMap"],
        "data": ["emptyDir"],
        "tmp": ["emptyDir"],
    }
    c = _container(ds)
    assert all("hostPort" not in p for p in c["ports"])
    assert c["securityContext"]["privileged"] is False and c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 473
    # runs on every node, tainted ones included, with the API token of its own service account
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert pod["serviceAccountName"] == "alloy" and pod["automountServiceAccountToken"] is True


@pytest.mark.parametrize("stack", STACKS)
def test_alloy_node_filter_env_comes_from_the_downward_api(run: Callable[[str], Run], stack: str) -> None:
    r = run(stack)
    c = _container(r.get(T["ds"], "alloy"))
    (env,) = c["env"]
    assert env == {"name": names.NODE_NAME_ENV, "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    text = r.get(T["cm"], "alloy-config").inputs["data"]["config.alloy"]
    field = river.parse(text).one("discovery.kubernetes", "pods").one("selectors").attrs["field"]
    assert field == river.BinOp("+", "spec.nodeName=", river.Call("sys.env", (env["name"],)))
    config_arg = c["args"][1]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert c["args"][0] == "run" and config_arg == f"{mounts['config']}/config.alloy"
    assert f"--storage.path={mounts['data']}" in c["args"]
    assert c["image"] == "docker.io/grafana/alloy:v1.18.1"
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http-metrics": 12345}
    assert c["readinessProbe"]["httpGet"]["path"] == "/-/ready"


@pytest.mark.parametrize("stack", STACKS)
def test_alloy_rbac_is_read_pods_and_their_logs_only(run: Callable[[str], Run], stack: str) -> None:
    r = run(stack)
    role = r.get(T["cr"], "alloy").inputs
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    ]
    binding = r.get(T["crb"], "alloy").inputs
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "alloy", "namespace": cv.NS_LOGGING}]
    # Loki needs no API access at all
    assert r.get(T["sa"], "loki").inputs["automountServiceAccountToken"] is False
    assert not [x for x in _k8s(r) if x.type in CLUSTER_SCOPED and "loki" in x.name]


@pytest.mark.parametrize("stack", STACKS)
def test_network_policies(run: Callable[[str], Run], stack: str) -> None:
    r = run(stack)
    loki = r.get(T["np"], "loki-allow").inputs["spec"]
    assert loki["policyTypes"] == ["Ingress"]
    by_port = {tuple(p["port"] for p in rule["ports"]): rule["from"] for rule in loki["ingress"]}
    assert by_port[(3100,)] == [{"namespaceSelector": {}}]  # in-cluster clients of the exported URLs
    assert by_port[(9095,)] == [{"podSelector": {"matchLabels": {cv.LABEL_NAME: "loki"}}}]
    alloy = r.get(T["np"], "alloy-allow").inputs["spec"]
    assert alloy["policyTypes"] == ["Egress"]
    api = [e for e in alloy["egress"] if "to" not in e]
    assert [sorted(p["port"] for p in e["ports"]) for e in api] == [[443, 6443]]


@pytest.mark.parametrize("stack", STACKS)
def test_policy_pack_resource_rules_pass(run: Callable[[str], Run], stack: str) -> None:
    """Every mandatory resource rule (and the PDB stack rule) of the stack's policy config passes on the
    Logging objects. prod exempts StatefulSet/*/loki from the 2-replica minimum: single-binary Loki on a
    filesystem volume is one replica by design."""
    from policies.pack_config import default_config_path, load_policy_config
    from policies.registry import RULES, check_resource, check_stack

    given = load_policy_config(default_config_path(stack))
    failures = []
    for rule in RULES:
        cfg = given.get(rule.name)
        level = (cfg.level if cfg and cfg.level else None) or rule.default_level
        if level != "mandatory":
            continue
        props = cfg.properties if cfg else {}
        if rule.kind == "resource":
            for x in _k8s(run(stack)):
                failures += [(rule.name, m) for m in check_resource(rule.name, x.type, x.inputs, props, x.name, x.urn)]
        elif rule.name == "workload-pod-disruption-budget":
            recs = [{"type": x.type, "inputs": x.inputs, "name": x.name, "urn": x.urn} for x in _k8s(run(stack))]
            failures += [(rule.name, f.message) for f in check_stack(rule.name, recs, props)]
    assert failures == []


def _validator() -> str:
    exe = Path(sys.executable).parent / "kubernetes-validate"
    found = str(exe) if exe.exists() else shutil.which("kubernetes-validate")
    assert found, "kubernetes-validate is not installed (requirements-dev.txt)"
    return found


@pytest.mark.tools
@pytest.mark.parametrize("stack", STACKS)
def test_objects_validate_strictly(run: Callable[[str], Run], stack: str, tmp_path: Path) -> None:
    from components.yamltext import dump as dump_yaml
    from tools.render import manifest

    files = []
    for i, x in enumerate(_k8s(run(stack))):
        path = tmp_path / f"{i:02d}-{x.name}.yaml"
        path.write_text(dump_yaml(manifest(x)))
        files.append(str(path))
    proc = subprocess.run(
        [_validator(), "--strict", "--quiet", "-k", "1.35.0", *files], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), proc.stdout + proc.stderr
    # and the validator does reject a broken object (so the check above can fail)
    broken = manifest(run(stack).get(T["ds"], "alloy"))
    broken["spec"]["template"]["spec"]["containers"][0]["hostNetwork"] = True
    bad = tmp_path / "broken.yaml"
    bad.write_text(dump_yaml(broken))
    proc = subprocess.run(
        [_validator(), "--strict", "--quiet", "-k", "1.35.0", str(bad)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode != 0
