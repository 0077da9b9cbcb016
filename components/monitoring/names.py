"""Names, ports and paths the Monitoring builders and the Monitoring component must agree on.

The scrape jobs select Prometheus, Alertmanager, kube-state-metrics and node-exporter by the
``app.kubernetes.io/name`` label and a named container port; the component gives its pods exactly
these labels and port names, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Final

PROMETHEUS: Final = "prometheus"
PROMETHEUS_PORT: Final = 9090
PROMETHEUS_PORT_NAME: Final = "web"

ALERTMANAGER: Final = "alertmanager"
ALERTMANAGER_PORT: Final = 9093
ALERTMANAGER_PORT_NAME: Final = "web"
ALERTMANAGER_CLUSTER_PORT: Final = 9094
ALERTMANAGER_CLUSTER_PORT_NAME: Final = "cluster"

KUBE_STATE_METRICS: Final = "kube-state-metrics"
KUBE_STATE_METRICS_PORT: Final = 8080
KUBE_STATE_METRICS_PORT_NAME: Final = "http-metrics"
KUBE_STATE_METRICS_TELEMETRY_PORT: Final = 8081
KUBE_STATE_METRICS_TELEMETRY_PORT_NAME: Final = "telemetry"

NODE_EXPORTER: Final = "node-exporter"
NODE_EXPORTER_PORT: Final = 9100
NODE_EXPORTER_PORT_NAME: Final = "metrics"

BLACKBOX_EXPORTER: Final = "blackbox-exporter"
BLACKBOX_EXPORTER_PORT: Final = 9115
BLACKBOX_EXPORTER_PORT_NAME: Final = "http"
BLACKBOX_JOB: Final = "blackbox"
VAULT_CA_CONFIGMAP: Final = "vault-ca"  # the Vault CA certificate, mounted for the vault scrape job
VAULT_CA_DIR: Final = "/etc/prometheus/vault-tls"

GRAFANA: Final = "grafana"
GRAFANA_PORT: Final = 3000
GRAFANA_PORT_NAME: Final = "http"

KUBELET_JOB: Final = "kubelet"
CADVISOR_JOB: Final = "cadvisor"
ANNOTATED_PODS_JOB: Final = "kubernetes-pods"

# Files inside the containers ------------------------------------------------------------------
PROMETHEUS_CONFIG_DIR: Final = "/etc/prometheus"
PROMETHEUS_RULES_DIR: Final = "/etc/prometheus/rules"
ALERTMANAGER_CONFIG_DIR: Final = "/etc/alertmanager"
ALERTMANAGER_SECRETS_DIR: Final = "/etc/alertmanager/secrets"
GRAFANA_PROVISIONING_DIR: Final = "/etc/grafana/provisioning"
GRAFANA_DASHBOARDS_DIR: Final = "/var/lib/grafana/dashboards"
GRAFANA_SECRETS_DIR: Final = "/etc/grafana/secrets"
GRAFANA_ADMIN_PASSWORD_FILE: Final = "admin-password"  # noqa: S105 - a file name, not a password
SERVICE_ACCOUNT_DIR: Final = "/var/run/secrets/kubernetes.io/serviceaccount"

# Grafana ------------------------------------------------------------------------------------------
PROMETHEUS_DATASOURCE_UID: Final = "prometheus"
ALERTMANAGER_DATASOURCE_UID: Final = "alertmanager"
LOKI_DATASOURCE_UID: Final = "loki"
DASHBOARD_UID_APPLICATION: Final = "hardening-application"
DASHBOARD_UID_INFRASTRUCTURE: Final = "hardening-infrastructure"
DASHBOARD_UID_ALERTS: Final = "hardening-alerts"
DASHBOARD_UID_VAULT: Final = "hardening-vault"
DASHBOARD_UID_SLO: Final = "hardening-slo"
DASHBOARD_UID_PROMETHEUS: Final = "hardening-prometheus"
DASHBOARD_UID_ALERTMANAGER: Final = "hardening-alertmanager"
DASHBOARD_UID_NODES: Final = "hardening-nodes"
DASHBOARD_UID_VOLUMES: Final = "hardening-volumes"
# The logs dashboard is built by the Logging component; the application dashboard's error panel links
# to it with the variables below (var-namespace, var-app, var-level).
DASHBOARD_UID_LOGS: Final = "hardening-logs"
LOGS_DASHBOARD_VARIABLES: Final = ("namespace", "app", "level")


def service_url(name: str, namespace: str, port: int) -> str:
    """In-cluster URL of a Service (``http://<name>.<namespace>.svc:<port>``)."""
    return f"http://{name}.{namespace}.svc:{port}"
