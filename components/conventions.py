"""Names shared across components: labels, annotations, metrics and SLI recording rules.

The app emits the metrics, Monitoring records the SLIs, alerts and dashboards read them and the
canary analysis queries them: every one of them imports the names from here, so a rename is one
change and a mismatch is impossible.
"""

from __future__ import annotations

from typing import Final

PROJECT: Final = "hardening"
PART_OF: Final = "hardening"

# Standard Kubernetes recommended labels ------------------------------------------------------------
LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_INSTANCE: Final = "app.kubernetes.io/instance"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"
LABEL_PART_OF: Final = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_VERSION: Final = "app.kubernetes.io/version"
# Cost allocation labels carried by every namespace (OpenCost aggregates on them).
LABEL_TEAM: Final = "team"
LABEL_COST_CENTER: Final = "cost-center"
# Short label the app's pods carry; the log collector and the SLI rules aggregate on it.
LABEL_APP: Final = "app"

# Prometheus scraping by annotation (pods opt in) ----------------------------------------------------
ANNOTATION_SCRAPE: Final = "prometheus.io/scrape"
ANNOTATION_PORT: Final = "prometheus.io/port"
ANNOTATION_PATH: Final = "prometheus.io/path"
ANNOTATION_SCHEME: Final = "prometheus.io/scheme"

# Argo Rollouts adds this label to every pod of a ReplicaSet it manages; scraping copies it to the
# series as ``rollouts_pod_template_hash`` so the canary analysis can look at canary pods only.
ROLLOUTS_HASH_POD_LABEL: Final = "rollouts-pod-template-hash"
ROLLOUTS_HASH_SERIES_LABEL: Final = "rollouts_pod_template_hash"

# Metrics emitted by app/ (prometheus_client) --------------------------------------------------------
METRIC_REQUESTS: Final = "http_requests_total"  # labels: method, route, status
METRIC_DURATION: Final = "http_request_duration_seconds"  # histogram; labels: method, route
METRIC_IN_FLIGHT: Final = "http_requests_in_flight"  # gauge
METRIC_BUILD_INFO: Final = "app_build_info"  # gauge = 1; labels: version, commit
METRIC_ORDERS_CREATED: Final = "orders_created_total"  # business counter
# Histogram buckets dense around the 0.5 s latency objective.
DURATION_BUCKETS: Final = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.2,
    0.3,
    0.4,
    0.45,
    0.5,
    0.55,
    0.6,
    0.75,
    1.0,
    2.5,
    5.0,
    10.0,
)

# SLI recording rules (Monitoring records them; alerts, dashboards and the canary analysis read them).
# Per ReplicaSet (canary vs stable): by (namespace, app, rollouts_pod_template_hash)
SLI_REQUEST_RATE_BY_HASH: Final = "namespace_app_hash:http_requests:rate5m"
SLI_ERROR_RATE_BY_HASH: Final = "namespace_app_hash:http_request_errors:rate5m"
SLI_ERROR_RATIO_BY_HASH: Final = "namespace_app_hash:http_request_error_ratio:rate5m"
SLI_P95_BY_HASH: Final = "namespace_app_hash:http_request_duration_seconds:p95_5m"
# Whole service: by (namespace, app)
SLI_REQUEST_RATE: Final = "namespace_app:http_requests:rate5m"
SLI_ERROR_RATIO: Final = "namespace_app:http_request_error_ratio:rate5m"
SLI_P95: Final = "namespace_app:http_request_duration_seconds:p95_5m"

# Service level objectives the alerts and the canary analysis enforce (defaults; stacks may tighten).
ERROR_RATIO_OBJECTIVE: Final = 0.05
P95_LATENCY_OBJECTIVE_SECONDS: Final = 0.5

# Platform namespaces (the app's namespace comes from stack config: appNamespace).
NS_MONITORING: Final = "monitoring"
NS_NODE_EXPORTER: Final = "node-exporter"  # privileged PSA: node-exporter needs the host's namespaces
NS_LOGGING: Final = "logging"
NS_VAULT: Final = "vault"
NS_COST: Final = "opencost"
NS_ROLLOUTS: Final = "argo-rollouts"
