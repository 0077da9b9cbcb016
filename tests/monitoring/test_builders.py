"""Unit tier: the monitoring builders on their own (no server, no external tool)."""

from __future__ import annotations

import configparser
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from components import conventions as cv
from components.monitoring import names
from components.monitoring.alertmanager import SECRET_FILES, alertmanager_config, secret_file_paths
from components.monitoring.dashboards import builtin_dashboards, collect_promql
from components.monitoring.grafana import dashboard_files, dashboard_provider_file, datasources_file, grafana_ini
from components.monitoring.rules import DEFAULT_FOR, alert_names, all_rules, rule_files, validate_rule_group
from components.monitoring.scrape import prometheus_config, required_rbac, to_yaml
from components.monitoring.specs import DashboardSpec, DataSourceSpec, ScrapeTarget
from components.program_addons import all_addons
from components.service.load import load_services
from components.vault.dashboard import vault_dashboard
from tests.logging.support import settings_for

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "MONITORING_GUIDE.md"


def github_anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lowercase, punctuation dropped, spaces to dashes."""
    anchors = set()
    for line in markdown.splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if m:
            anchors.add(re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-"))
    return anchors


# --- packaging -----------------------------------------------------------------------------------
def test_builders_do_not_import_pulumi() -> None:
    code = (
        "import sys; import components.monitoring, components.monitoring.scrape, components.monitoring.rules, "
        "components.monitoring.alertmanager, components.monitoring.grafana, components.monitoring.dashboards, "
        "components.monitoring.service, components.monitoring.platform_alerts, components.monitoring.blackbox; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_kubernetes')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# --- scrape --------------------------------------------------------------------------------------
def test_prometheus_config_jobs_and_globals() -> None:
    vault = ScrapeTarget("vault", cv.NS_VAULT, {cv.LABEL_NAME: "vault"}, 8200, path="/v1/sys/metrics?format=prometheus")
    cfg = prometheus_config(
        scrape_interval="15s", evaluation_interval="20s", external_labels={"cluster": "prod"}, targets=[vault]
    )
    assert cfg["global"] == {
        "scrape_interval": "15s",
        "evaluation_interval": "20s",
        "external_labels": {"cluster": "prod"},
    }
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert list(jobs) == [
        names.ANNOTATED_PODS_JOB,
        names.KUBELET_JOB,
        names.CADVISOR_JOB,
        names.PROMETHEUS,
        names.ALERTMANAGER,
        names.KUBE_STATE_METRICS,
        names.NODE_EXPORTER,
        "vault",
    ]
    assert jobs["vault"]["metrics_path"] == "/v1/sys/metrics" and jobs["vault"]["params"] == {"format": ["prometheus"]}
    assert jobs["vault"]["kubernetes_sd_configs"] == [
        {
            "role": "pod",
            "namespaces": {"names": [cv.NS_VAULT]},
            "selectors": [{"role": "pod", "label": "app.kubernetes.io/name=vault"}],
        }
    ]
    assert jobs[names.KUBE_STATE_METRICS]["honor_labels"] is True
    assert all("kubernetes_sd_configs" in j for j in jobs.values())
    assert cfg["rule_files"] == [f"{names.PROMETHEUS_RULES_DIR}/*.yaml"]
    (am,) = cfg["alerting"]["alertmanagers"]
    assert am["kubernetes_sd_configs"][0]["namespaces"] == {"names": [cv.NS_MONITORING]}
    # Annotation names come from conventions, spelled as Kubernetes SD spells them.
    text = to_yaml(cfg)
    assert "__meta_kubernetes_pod_annotation_prometheus_io_scrape" in text
    assert "__meta_kubernetes_pod_label_rollouts_pod_template_hash" in text


def test_kubelet_modes() -> None:
    direct = {j["job_name"]: j for j in prometheus_config()["scrape_configs"]}[names.KUBELET_JOB]
    assert direct["scheme"] == "https" and direct["authorization"]["credentials_file"].endswith("/token")
    api = {j["job_name"]: j for j in prometheus_config(kubelet="apiserver")["scrape_configs"]}[names.CADVISOR_JOB]
    assert {"target_label": "__address__", "replacement": "kubernetes.default.svc:443"} in api["relabel_configs"]
    assert "insecure_skip_verify" not in api["tls_config"]
    none = [j["job_name"] for j in prometheus_config(kubelet="none")["scrape_configs"]]
    assert names.KUBELET_JOB not in none and names.CADVISOR_JOB not in none


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Vault!"}, "field 'name'"),
        ({"namespace": "Vault"}, "field 'namespace'"),
        ({"selector": {}}, "field 'selector'"),
        ({"port": 0}, "field 'port'"),
        ({"port": "8200"}, "field 'port'"),
        ({"path": "metrics"}, "field 'path'"),
        ({"scheme": "ftp"}, "field 'scheme'"),
        ({"role": "endpoints"}, "field 'role'"),
        ({"role": "service", "port": 8200}, "Service port name"),
        ({"interval": "30 s"}, "field 'interval'"),
    ],
)
def test_scrape_target_rejects_bad_fields(kwargs: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"name": "vault", "namespace": "vault", "selector": {cv.LABEL_NAME: "vault"}, "port": 8200}
    with pytest.raises(ValueError, match=re.escape(message)):
        ScrapeTarget(**{**base, **kwargs})


def test_prometheus_config_rejects_bad_input() -> None:
    dup = ScrapeTarget(names.PROMETHEUS, "other", {cv.LABEL_NAME: "x"}, "web")
    with pytest.raises(ValueError, match="'prometheus' is used twice"):
        prometheus_config(targets=[dup])
    with pytest.raises(ValueError, match="scrape_interval = '30 seconds'"):
        prometheus_config(scrape_interval="30 seconds")
    with pytest.raises(ValueError, match="scrape_timeout"):
        prometheus_config(scrape_interval="10s", scrape_timeout="20s")
    with pytest.raises(ValueError, match="kubelet = 'proxy'"):
        prometheus_config(kubelet="proxy")
    with pytest.raises(ValueError, match="external_labels key '__x'"):
        prometheus_config(external_labels={"__x": "y"})


# --- rules ---------------------------------------------------------------------------------------
def test_every_alert_is_complete_and_its_runbook_exists() -> None:
    anchors = github_anchors(GUIDE.read_text())
    files = rule_files(runbook_base_url="https://github.com/acme/platform/blob/main/docs")
    alerts = [r for r in all_rules(files) if "alert" in r]
    # every DEFAULT_FOR alert, plus the platform groups of platform_alerts (one helper builds them all)
    assert set(DEFAULT_FOR) <= set(alert_names(files))
    for rule in alerts:
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        ann = rule["annotations"]
        assert ann["summary"] and ann["description"], rule["alert"]
        base, _, anchor = ann["runbook_url"].partition("#")
        assert base == "https://github.com/acme/platform/blob/main/docs/MONITORING_GUIDE.md"
        assert anchor in anchors, f"{rule['alert']}: no heading for #{anchor} in {GUIDE.name}"


def test_sli_recording_rules_use_the_shared_names() -> None:
    records = [r["record"] for r in all_rules(rule_files()) if "record" in r]
    assert records == [
        cv.SLI_REQUEST_RATE_BY_HASH,
        cv.SLI_ERROR_RATE_BY_HASH,
        cv.SLI_ERROR_RATIO_BY_HASH,
        cv.SLI_P95_BY_HASH,
        cv.SLI_REQUEST_RATE,
        cv.SLI_ERROR_RATIO,
        cv.SLI_P95,
    ]


def test_for_comes_from_parameters_and_service_alerts_left_the_platform_files() -> None:
    files = rule_files(alert_for={"TargetDown": "30s"})
    rules = {r["alert"]: r for r in all_rules(files) if "alert" in r}
    assert rules["TargetDown"]["for"] == "30s"
    assert "for" not in rules["KubeContainerOOMKilled"]
    # the threshold alerts are per service now (components/monitoring/service.py), never twice
    assert not {"HighErrorRatio", "HighLatencyP95"} & set(rules)


def test_absent_guards_for_every_scrape_job_not_already_guarded() -> None:
    guard = {
        "name": "logs",
        "rules": [
            {
                "alert": "LokiDown",
                "expr": 'absent(up{job="loki"} == 1)',
                "labels": {"severity": "critical"},
                "annotations": {"summary": "s", "description": "d", "runbook_url": "https://x/L.md#lokidown"},
            }
        ],
    }
    files = rule_files(scrape_jobs=["kube-state-metrics", "loki", "vault"], extra_groups=[guard])
    guards = [r for r in all_rules(files) if r.get("alert") == "ScrapeJobMissing"]
    assert [(g["labels"]["job"], g["labels"]["severity"]) for g in guards] == [
        ("kube-state-metrics", "critical"),
        ("vault", "warning"),
    ]
    assert guards[0]["expr"] == 'absent(up{job="kube-state-metrics"} == 1)'


def test_optional_components_and_extra_groups() -> None:
    own = set(alert_names(rule_files()))  # Monitoring names no other area's alert: they come as extra groups
    assert not {"VaultSealed", "LokiDown", "CanaryRolloutAborted", "OpenCostDown"} & own
    extra = {
        "name": "opencost",
        "rules": [
            {
                "alert": "OpenCostDown",
                "expr": 'up{job="opencost"} == 0',
                "labels": {"severity": "warning"},
                "annotations": {
                    "summary": "s",
                    "description": "d",
                    "runbook_url": "https://x/COST_GUIDE.md#opencostdown",
                },
            }
        ],
    }
    files = rule_files(extra_groups=[extra])
    assert files["extra-opencost.yaml"] == {"groups": [extra]}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alert_for": {"HighErrorRate": "1m"}}, "unknown alert(s) HighErrorRate"),
        ({"alert_for": {"TargetDown": "5 minutes"}}, "alert_for['TargetDown']"),
        ({"runbook_base_url": "http://example.com/docs/"}, "runbook_base_url"),
        ({"extra_groups": [{"name": "sli", "rules": [{"record": "a:b", "expr": "1"}]}]}, "'sli' is already used"),
    ],
)
def test_rule_files_rejects_bad_input(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        rule_files(**kwargs)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {
                "alert": "X",
                "expr": "up == 0",
                "labels": {"severity": "page"},
                "annotations": {"summary": "s", "description": "d", "runbook_url": "https://x"},
            },
            "labels.severity = 'page'",
        ),
        (
            {
                "alert": "X",
                "expr": "up == 0",
                "labels": {"severity": "warning"},
                "annotations": {"summary": "s", "description": "d"},
            },
            "annotations.runbook_url is missing",
        ),
        ({"alert": "X", "record": "y", "expr": "up"}, "exactly one of 'record' or 'alert'"),
        ({"record": "a b", "expr": "up"}, "field 'record'"),
    ],
)
def test_validate_rule_group_names_the_problem(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        validate_rule_group({"name": "g", "rules": [rule]})


# --- alertmanager --------------------------------------------------------------------------------
def test_alertmanager_routes_inhibition_and_receivers() -> None:
    cfg = alertmanager_config(secret_files=sorted(SECRET_FILES.values()))
    route = cfg["route"]
    assert route["receiver"] == "null" and route["group_by"] == ["alertname", "namespace"]
    assert route["routes"] == [
        {
            "receiver": "heartbeat",
            "matchers": ['alertname="Watchdog"'],
            "continue": False,
            "group_wait": "0s",
            "group_interval": "1m",
            "repeat_interval": "1m",
        },
        {"receiver": "critical", "matchers": ['severity="critical"']},
        {"receiver": "warning", "matchers": ['severity="warning"']},
    ]
    assert cfg["inhibit_rules"] == [
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["alertname", "namespace"],
        }
    ]
    receivers = {r["name"]: r for r in cfg["receivers"]}
    assert set(receivers["critical"]) == {"name", "pagerduty_configs", "slack_configs", "webhook_configs"}
    assert set(receivers["warning"]) == {"name", "slack_configs", "webhook_configs"}
    assert receivers["heartbeat"]["webhook_configs"] == [
        {"url_file": f"{names.ALERTMANAGER_SECRETS_DIR}/heartbeat-url", "send_resolved": False}
    ]
    assert sorted(secret_file_paths(cfg)) == sorted(
        f"{names.ALERTMANAGER_SECRETS_DIR}/{f}" for f in SECRET_FILES.values()
    )
    assert "url:" not in to_yaml(cfg) and "api_url:" not in to_yaml(cfg)  # nothing inlined


def test_alertmanager_without_secrets_routes_to_null() -> None:
    cfg = alertmanager_config()
    # the Watchdog is caught first, so without a heartbeat receiver it never reaches a person either
    assert cfg["receivers"] == [{"name": "null"}]
    assert cfg["route"]["routes"] == [{"receiver": "null", "matchers": ['alertname="Watchdog"'], "continue": False}]


def test_watchdog_goes_only_to_the_heartbeat_receiver() -> None:
    cfg = alertmanager_config(secret_files=["heartbeat-url", "slack-api-url"])
    first, *others = cfg["route"]["routes"]
    assert first["receiver"] == "heartbeat" and first["matchers"] == ['alertname="Watchdog"']
    assert first["continue"] is False and first["repeat_interval"] == "1m"
    assert all(r["receiver"] != "heartbeat" for r in others)


def test_alertmanager_rejects_bad_input_without_echoing_urls() -> None:
    with pytest.raises(
        ValueError, match="secret_files entry 'slack' is invalid; accepted: heartbeat-url, pagerduty-routing-key"
    ):
        alertmanager_config(secret_files=["slack"])
    with pytest.raises(ValueError) as exc:
        alertmanager_config(extra_webhooks={"team": "hooks.example.com/T0/SECRET-TOKEN"})
    assert "extra_webhooks['team']" in str(exc.value) and "SECRET-TOKEN" not in str(exc.value)
    with pytest.raises(ValueError, match="group_wait = '0s'"):
        alertmanager_config(group_wait="0s")


# --- grafana and dashboards ----------------------------------------------------------------------
def test_builtin_dashboards() -> None:
    specs = {s.uid: s for s in builtin_dashboards()}
    assert list(specs) == [
        names.DASHBOARD_UID_APPLICATION,
        names.DASHBOARD_UID_INFRASTRUCTURE,
        names.DASHBOARD_UID_ALERTS,
        names.DASHBOARD_UID_SLO,
        names.DASHBOARD_UID_PROMETHEUS,
        names.DASHBOARD_UID_ALERTMANAGER,
        names.DASHBOARD_UID_NODES,
        names.DASHBOARD_UID_VOLUMES,
    ]

    def titles(uid: str) -> list[str]:
        return [p["title"] for p in specs[uid].json["panels"]]

    app = " | ".join(titles(names.DASHBOARD_UID_APPLICATION))
    for needle in ("Request rate", "Error ratio", "P50, P90, P95, P99", "In-flight"):
        assert needle in app
    infra = " | ".join(titles(names.DASHBOARD_UID_INFRASTRUCTURE))
    for needle in (
        "CPU usage per pod",
        "Memory working set per pod",
        "Network received",
        "Network transmitted",
        "Volume usage",
    ):
        assert needle in infra
    assert all("ALERTS" in e for e in collect_promql(specs[names.DASHBOARD_UID_ALERTS].json)[:5])
    vault = " | ".join(p["title"] for p in vault_dashboard()["panels"])  # Vault's own, handed in as an add-on
    for needle in ("Sealed", "Request rate", "Leader"):
        assert needle in vault
    ids = [p.get("id") for s in specs.values() for p in s.json["panels"]]
    assert all(isinstance(i, int) for i in ids)
    for s in specs.values():
        assert len({p["id"] for p in s.json["panels"]}) == len(s.json["panels"])


def test_error_panels_link_to_the_logs_dashboard() -> None:
    app = builtin_dashboards(logs_dashboard_uid="my-logs")[0].json
    links = [
        link["url"]
        for p in app["panels"]
        if "rror ratio" in p["title"]
        for link in p.get("fieldConfig", {}).get("defaults", {}).get("links", [])
    ]
    assert len(links) >= 2
    for url in links:
        assert url.startswith("/d/my-logs/")
        assert "var-app=${__field.labels.app}" in url and "var-level=error" in url
        assert "var-namespace=${__field.labels.namespace}" in url


def test_dashboards_use_the_sli_rules() -> None:
    exprs = " ".join(collect_promql(builtin_dashboards()[0].json))
    for name in (cv.SLI_ERROR_RATIO, cv.SLI_P95, cv.SLI_REQUEST_RATE, cv.SLI_ERROR_RATIO_BY_HASH):
        assert name in exprs


def test_grafana_provisioning() -> None:
    loki = DataSourceSpec(
        name="Loki",
        type="loki",
        uid=names.LOKI_DATASOURCE_UID,
        url="http://loki.logging.svc:3100",
        json_data={"maxLines": 1000},
    )
    ds = datasources_file(
        "http://prometheus.monitoring.svc:9090",
        "http://alertmanager.monitoring.svc:9093",
        [loki],
        scrape_interval="15s",
    )
    by_uid = {d["uid"]: d for d in ds["datasources"]}
    assert list(by_uid) == [names.PROMETHEUS_DATASOURCE_UID, names.ALERTMANAGER_DATASOURCE_UID, "loki"]
    assert by_uid["prometheus"]["isDefault"] is True and by_uid["prometheus"]["jsonData"]["timeInterval"] == "15s"
    assert by_uid["alertmanager"]["type"] == "alertmanager"
    with pytest.raises(ValueError, match="duplicates another one"):
        datasources_file("http://p:9090", "http://a:9093", [loki, loki])
    provider = dashboard_provider_file()["providers"][0]
    assert provider["options"]["path"] == names.GRAFANA_DASHBOARDS_DIR
    files = dashboard_files(builtin_dashboards())
    assert f"Hardening/{names.DASHBOARD_UID_APPLICATION}.json" in files
    assert (
        json.loads(files[f"Hardening/{names.DASHBOARD_UID_INFRASTRUCTURE}.json"])["uid"]
        == names.DASHBOARD_UID_INFRASTRUCTURE
    )
    with pytest.raises(ValueError, match="is used by"):
        dashboard_files([*builtin_dashboards(), builtin_dashboards()[0]])


def test_grafana_ini_is_locked_down() -> None:
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(grafana_ini())
    assert ini["auth.anonymous"]["enabled"] == "false"
    assert ini["users"]["allow_sign_up"] == "false"
    assert ini["security"]["admin_password"] == (
        f"$__file{{{names.GRAFANA_SECRETS_DIR}/{names.GRAFANA_ADMIN_PASSWORD_FILE}}}"
    )
    assert ini["analytics"]["reporting_enabled"] == "false"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"uid": "x" * 41}, "field 'uid'"),
        ({"json": {"uid": "other", "title": "T", "panels": []}}, "json['uid']"),
        ({"json": {"uid": "d", "title": "T"}}, "field 'json'"),
        ({"folder": "a/b"}, "field 'folder'"),
    ],
)
def test_dashboard_spec_rejects_bad_fields(kwargs: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"uid": "d", "title": "T", "json": {"uid": "d", "title": "T", "panels": []}}
    if "uid" in kwargs:
        base["json"] = {**base["json"], "uid": kwargs["uid"]}
    with pytest.raises(ValueError, match=re.escape(message)):
        DashboardSpec(**{**base, **kwargs})


def test_data_source_spec_rejects_bad_fields() -> None:
    with pytest.raises(ValueError, match="field 'url'"):
        DataSourceSpec(name="Loki", type="loki", uid="loki", url="loki:3100")
    with pytest.raises(ValueError, match="field 'uid'"):
        DataSourceSpec(name="Loki", type="loki", uid="lo ki", url="http://loki:3100")


def test_required_rbac_is_least_privilege() -> None:
    loki = ScrapeTarget("loki", cv.NS_LOGGING, {cv.LABEL_NAME: "loki"}, "http-metrics", role="service")
    rbac = required_rbac(prometheus_config(targets=[loki]))
    assert rbac == {
        "*": [
            {"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
        ],
        cv.NS_LOGGING: [
            {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
        ],
    }
    via_api = required_rbac(prometheus_config(kubelet="apiserver", annotated_pods=False))
    assert {"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]} in via_api["*"]
    # Without the cluster-wide annotated-pods job, pod discovery is granted per namespace only.
    assert via_api[cv.NS_MONITORING] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    assert {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]} in via_api["*"]


def _runbook_headings(guide: str) -> set[str]:
    """The ``### <AlertName>`` headings of the alert-runbook section(s) of ``docs/<guide>``."""
    out: set[str] = set()
    section = ""
    for line in (ROOT / "docs" / guide).read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].lower()
        elif (m := re.match(r"^### ([A-Z][A-Za-z0-9]+)\s*$", line)) and (
            "runbooks" in section or section.endswith("alerts")
        ):
            out.add(m.group(1))
    return out


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_program_alerts_are_exactly_the_documented_runbooks(stack: str) -> None:
    """No pinned count: every alert the program ships (Monitoring's own and every area's add-ons) has a
    runbook heading in the guide its runbook_url points into, and every runbook heading is an alert."""
    settings = settings_for(stack)
    addons = all_addons(settings, load_services(settings.services, ROOT))
    files = rule_files(runbook_base_url=settings.monitoring.runbook_base_url, extra_groups=addons.rule_groups)
    by_guide: dict[str, set[str]] = {}
    for rule in all_rules(files):
        if "alert" in rule:
            guide = rule["annotations"]["runbook_url"].rsplit("#", 1)[0].rsplit("/", 1)[1]
            by_guide.setdefault(guide, set()).add(rule["alert"])
    assert set(by_guide) == {
        "MONITORING_GUIDE.md",
        "LOGGING_GUIDE.md",
        "COST_GUIDE.md",
        "PROGRESSIVE_DEPLOYMENT_GUIDE.md",
    }
    for guide, alerts in by_guide.items():
        assert alerts == _runbook_headings(guide), guide
