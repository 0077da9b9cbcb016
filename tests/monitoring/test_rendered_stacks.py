"""The monitoring configuration as the offline render writes it for each stack, checked by the real tools.

The unit and tool tests above exercise the builders; this one takes the ConfigMaps of the rendered
``k8s/NN-monitoring.yaml`` (with every other component's scrape jobs, rules and dashboards merged in)
and runs promtool, amtool and a real Prometheus over exactly those bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from components.monitoring import names
from components.monitoring.dashboards import collect_promql, for_prometheus
from components.monitoring.scrape import to_yaml
from tests.conftest import STACKS
from tests.monitoring.promsupport import (
    AMTOOL,
    PROMTOOL,
    Prometheus,
    empty_prometheus_config,
    promql_errors,
    run_tool,
    swap_discovery,
)
from tests.support import yamlio


def _config_maps(out: Path) -> dict[str, dict[str, str]]:
    (path,) = (out / "k8s").glob("*-monitoring.yaml")
    docs = [d for d in yamlio.load_all(path.read_text()) if d]
    return {d["metadata"]["name"]: d.get("data") or {} for d in docs if d["kind"] == "ConfigMap"}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    with Prometheus(empty_prometheus_config(), tmp_path_factory.mktemp("prom")) as prom:
        yield prom


@pytest.mark.tools
@pytest.mark.parametrize("stack", STACKS)
def test_rendered_prometheus_config_and_rules(rendered: Callable[[str], Path], stack: str, tmp_path: Path) -> None:
    cms = _config_maps(rendered(stack))
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    for name, text in cms["prometheus-rules"].items():
        (rules_dir / name).write_text(text)
    result = run_tool([PROMTOOL, "check", "rules", *sorted(str(p) for p in rules_dir.iterdir())])
    assert result.returncode == 0, result.stdout + result.stderr
    cfg = yamlio.load(cms["prometheus-config"]["prometheus.yml"])
    assert cfg["rule_files"] == [f"{names.PROMETHEUS_RULES_DIR}/*.yaml"]
    path = tmp_path / "prometheus.yml"
    path.write_text(to_yaml(swap_discovery(cfg, tmp_path, {}, rules_dir=rules_dir)))
    result = run_tool([PROMTOOL, "check", "config", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.tools
@pytest.mark.parametrize("stack", STACKS)
def test_rendered_alertmanager_config(rendered: Callable[[str], Path], stack: str, tmp_path: Path) -> None:
    text = _config_maps(rendered(stack))["alertmanager-config"]["alertmanager.yml"]
    cfg: dict[str, Any] = yamlio.load(text.replace(names.ALERTMANAGER_SECRETS_DIR, str(tmp_path)))
    for receiver in cfg["receivers"]:
        for kind, key in (("slack_configs", "api_url_file"), ("pagerduty_configs", "routing_key_file")):
            for integration in receiver.get(kind, []):
                Path(integration[key]).write_text("https://hooks.example.invalid/placeholder")
        for wh in receiver.get("webhook_configs", []):
            if "url_file" in wh:  # 0.26+ field (we deploy 0.28.1); amtool 0.25 needs it inlined
                wh["url"] = "https://hooks.example.invalid/placeholder"
                del wh["url_file"]
    path = tmp_path / "alertmanager.yml"
    path.write_text(to_yaml(cfg))
    result = run_tool([AMTOOL, "check-config", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.server
@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_promql_expression_parses(
    rendered: Callable[[str], Path], stack: str, prometheus: Prometheus
) -> None:
    cms = _config_maps(rendered(stack))
    dashboards = {name: json.loads(text) for name, text in cms["grafana-dashboards"].items()}
    assert len(dashboards) >= 4
    exprs = [for_prometheus(e) for d in dashboards.values() for e in collect_promql(d)]
    for text in cms["prometheus-rules"].values():
        exprs += [r["expr"] for g in yamlio.load(text)["groups"] for r in g["rules"]]
    assert len(exprs) > 60
    assert promql_errors(prometheus, exprs) == {}


def _docs(out: Path) -> list[dict[str, Any]]:
    (path,) = (out / "k8s").glob("*-monitoring.yaml")
    return [d for d in yamlio.load_all(path.read_text()) if d]


def _one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def test_rendered_prod_fixes_the_measured_defects(rendered: Callable[[str], Path]) -> None:
    """Issue #17's defects, as rendered for prod: each assertion failed on main before the fix."""
    docs = _docs(rendered("prod"))
    # Alertmanager gossip: TCP and UDP 9094 between the peers
    netpol = _one(docs, "NetworkPolicy", "allow-alertmanager")["spec"]
    for direction in ("ingress", "egress"):
        ports = [(p["port"], p["protocol"]) for rule in netpol[direction] for p in rule.get("ports", [])]
        assert (names.ALERTMANAGER_CLUSTER_PORT, "UDP") in ports and (names.ALERTMANAGER_CLUSTER_PORT, "TCP") in ports
    # Prometheus and Grafana Services: sticky
    for service in (names.PROMETHEUS, names.GRAFANA):
        assert _one(docs, "Service", service)["spec"]["sessionAffinity"] == "ClientIP"
    assert "sessionAffinity" not in _one(docs, "Service", f"{names.PROMETHEUS}-headless")["spec"]
    # the Vault CA: a ConfigMap volume, mounted where the vault job's ca_file points
    cfg = yamlio.load(_config_maps(rendered("prod"))["prometheus-config"]["prometheus.yml"])
    (vault_job,) = [j for j in cfg["scrape_configs"] if j["job_name"] == "vault"]
    ca_file = vault_job["tls_config"]["ca_file"]
    pod = _one(docs, "StatefulSet", names.PROMETHEUS)["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v.get("configMap", {}).get("name") == names.VAULT_CA_CONFIGMAP]
    (mount,) = [m for c in pod["containers"] for m in c.get("volumeMounts", []) if m["name"] == volume["name"]]
    assert ca_file.startswith(mount["mountPath"] + "/") and volume["configMap"]["optional"] is True
    # the blackbox exporter probes every service and Vault's health
    (probe_job,) = [j for j in cfg["scrape_configs"] if j["job_name"] == "blackbox"]
    probed = {(t["labels"]["namespace"], t["labels"]["service"]) for t in probe_job["static_configs"]}
    assert {("web", "orders-api"), ("demo", "go-deployment-demo"), ("vault", "vault")} <= probed
    assert _one(docs, "Deployment", names.BLACKBOX_EXPORTER)["spec"]["replicas"] == 2
    # kube-state-metrics: none of the scraper's own pod labels on its series
    (ksm,) = [j for j in cfg["scrape_configs"] if j["job_name"] == names.KUBE_STATE_METRICS]
    targets = {r.get("target_label") for r in ksm["relabel_configs"]}
    assert not {"namespace", "pod", "container", "app"} & targets
    # the argo-rollouts job keeps the rollout's namespace
    (rollouts,) = [j for j in cfg["scrape_configs"] if j["job_name"] == "argo-rollouts"]
    assert rollouts["metric_relabel_configs"][0] == {
        "source_labels": ["exported_namespace"],
        "regex": "(.+)",
        "target_label": "namespace",
    }


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_dashboards_name_no_service(rendered: Callable[[str], Path], stack: str) -> None:
    """Template variables instead of literal names: no dashboard of Monitoring's or the cost one names a
    service or its namespace (the rollout dashboard is the canary component's)."""
    dashboards = {k: json.loads(v) for k, v in _config_maps(rendered(stack))["grafana-dashboards"].items()}
    for name, model in dashboards.items():
        if name.startswith("hardening-rollouts"):
            continue
        text = " ".join(collect_promql(model))
        for literal in ('"orders-api"', '"web"', '"go-deployment-demo"', '"demo"'):
            assert literal not in text, f"{name} names {literal}"
    assert "service" in {v["name"] for v in dashboards["hardening-slo.json"]["templating"]["list"]}
