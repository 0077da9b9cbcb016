"""OpenCost configuration as plain data: custom pricing, the cost model output, RBAC, env and the UI's nginx.

Everything here is derived from ``settings.cost`` and the pinned upstream conventions of OpenCost
(v1.120, ``opencost/opencost-helm-chart``):

- **Custom pricing**: OpenCost reads the ConfigMap named by ``PRICING_CONFIGMAP_NAME`` from its own
  namespace through the API and writes the result to ``$CONFIG_PATH/default.json`` (so CONFIG_PATH is a
  writable emptyDir). Each ConfigMap key is one field of OpenCost's ``CustomPricing``: ``CPU`` per
  vCPU-hour, ``RAM`` per GiB-hour, ``storage`` per GiB-*hour* (our setting is per GB-month: divided by
  730), ``firstFiveForwardingRulesCost`` per load-balancer-hour (OpenCost counts one rule per LB). Network egress
  and GPUs are priced 0, as the estimate does not price them either: the two agree.
- **cost_model**: the same prices as the ``costModel`` stack output the PR estimate reads. The pricing
  ConfigMap carries it too, as the ``COST_MODEL_ANNOTATION`` annotation (``pricing_annotations``): the
  policy pack sees only resources, and its budget rule reads the stack's prices and budget there.
"""

from __future__ import annotations

import json
from typing import Any, Final

from components import conventions as cv
from components.config import CostSettings
from components.cost.estimate import HOURS_PER_MONTH as HOURS_PER_MONTH  # re-exported for the dashboards
from components.cost.estimate import Prices

NAME: Final = "opencost"
UI_NAME: Final = "opencost-ui"
API_PORT: Final = 9003
API_PORT_NAME: Final = "http"
UI_PORT: Final = 9090
UI_PORT_NAME: Final = "http-ui"
PRICING_CONFIGMAP: Final = "custom-pricing-model"
UI_NGINX_CONFIGMAP: Final = "opencost-ui-nginx"
CONFIG_PATH: Final = "/tmp/custom-config"  # noqa: S108 - an emptyDir OpenCost writes default.json to
UID: Final = 1001  # USER of both upstream images
CURRENCY: Final = "USD"
# On the pricing ConfigMap: the ``costModel`` output as JSON (prices, node count, budget) for the policy pack.
COST_MODEL_ANNOTATION: Final = "hardening/cost-model"


def price_text(value: float) -> str:
    """A price as OpenCost's string-encoded float: plain decimal notation, no exponent, no trailing zeros."""
    text = f"{value:.15f}".rstrip("0").rstrip(".")
    return text or "0"


def pricing_config(cost: CostSettings) -> dict[str, str]:
    """The data of the custom pricing ConfigMap (one key per ``CustomPricing`` field, values as strings)."""
    cpu, ram = price_text(cost.cpu_hourly), price_text(cost.memory_gib_hourly)
    lb = price_text(cost.load_balancer_hourly)
    return {
        "provider": "custom",
        "description": "hardening stack prices (components/cost): the PR cost estimate uses the same ones",
        "CPU": cpu,
        "spotCPU": cpu,
        "RAM": ram,
        "spotRAM": ram,
        "GPU": "0",
        "spotGPU": "0",
        "storage": price_text(cost.storage_gb_monthly / HOURS_PER_MONTH),
        "zoneNetworkEgress": "0",
        "regionNetworkEgress": "0",
        "internetNetworkEgress": "0",
        "firstFiveForwardingRulesCost": lb,
        "additionalForwardingRuleCost": lb,
        "LBIngressDataCost": "0",
        # Cloud providers' pricing integrations honour the custom prices only with this flag.
        "customPricesEnabled": "true",
        "currencyCode": CURRENCY,
    }


def cost_model(cost: CostSettings) -> dict[str, Any]:
    """The ``costModel`` stack output: the estimate's unit prices (``estimate.Prices.from_dict`` reads it)."""
    prices = Prices(
        cpu_core_hourly=cost.cpu_hourly,
        memory_gib_hourly=cost.memory_gib_hourly,
        storage_gib_monthly=cost.storage_gb_monthly,
        load_balancer_hourly=cost.load_balancer_hourly,
        daemonset_nodes=cost.node_count,
        currency=CURRENCY,
        hours_per_month=HOURS_PER_MONTH,
        increase_threshold_percent=float(cost.increase_threshold_percent),
        monthly_budget=cost.monthly_budget,
    )
    return prices.to_dict()


def pricing_annotations(cost: CostSettings) -> dict[str, str]:
    """Annotations of the pricing ConfigMap: the stack's cost model, so the policy pack's budget rule reads
    the same prices and budget as the cost estimate (the pack sees resources, never stack outputs)."""
    return {COST_MODEL_ANNOTATION: json.dumps(cost_model(cost), sort_keys=True)}


def prices_from_pricing_config(data: dict[str, str], daemonset_nodes: int = 1) -> Prices:
    """The inverse of ``pricing_config`` (tests use it to prove OpenCost and the estimate agree)."""
    return Prices(
        cpu_core_hourly=float(data["CPU"]),
        memory_gib_hourly=float(data["RAM"]),
        storage_gib_monthly=float(data["storage"]) * HOURS_PER_MONTH,
        load_balancer_hourly=float(data["firstFiveForwardingRulesCost"]),
        daemonset_nodes=daemonset_nodes,
    )


# RBAC: exactly the read-only rules of the upstream chart (templates/clusterrole.yaml), without the
# optional nodes/proxy (collector data source, off) and OpenShift rules. No write verbs anywhere.
CLUSTER_ROLE_RULES: Final[tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...]] = (
    (
        ("",),
        (
            "configmaps",
            "deployments",
            "nodes",
            "pods",
            "services",
            "resourcequotas",
            "replicationcontrollers",
            "limitranges",
            "persistentvolumeclaims",
            "persistentvolumes",
            "namespaces",
            "endpoints",
        ),
        ("get", "list", "watch"),
    ),
    (("extensions",), ("daemonsets", "deployments", "replicasets"), ("get", "list", "watch")),
    (("apps",), ("statefulsets", "deployments", "daemonsets", "replicasets"), ("list", "watch")),
    (("batch",), ("cronjobs", "jobs"), ("get", "list", "watch")),
    (("autoscaling",), ("horizontalpodautoscalers",), ("get", "list", "watch")),
    (("policy",), ("poddisruptionbudgets",), ("get", "list", "watch")),
    (("storage.k8s.io",), ("storageclasses",), ("get", "list", "watch")),
)
READ_VERBS: Final = frozenset({"get", "list", "watch"})


def opencost_env(*, prometheus_url: str, cluster_id: str, namespace: str = cv.NS_COST) -> dict[str, str]:
    """Environment of the OpenCost container."""
    return {
        "PROMETHEUS_SERVER_ENDPOINT": prometheus_url,
        "CLUSTER_ID": cluster_id,
        "API_PORT": str(API_PORT),
        "INSTALL_NAMESPACE": namespace,
        "CONFIG_PATH": CONFIG_PATH,
        "PRICING_CONFIGMAP_NAME": PRICING_CONFIGMAP,
        "LOG_LEVEL": "info",
        # kube-state-metrics (Monitoring) already exports the KSM v2 metrics; emit only the v1 ones it lacks.
        "EMIT_KSM_V1_METRICS": "true",
        "EMIT_KSM_V1_METRICS_ONLY": "true",
        "CLOUD_COST_ENABLED": "false",
        "CUSTOM_COST_ENABLED": "false",
        "MCP_SERVER_ENABLED": "false",
        "CARBON_ESTIMATES_ENABLED": "false",
        "PROMETHEUS_QUERY_RESOLUTION_SECONDS": "300",
    }


def ui_nginx_conf(*, api_port: int = API_PORT, ui_port: int = UI_PORT) -> str:
    """``default.nginx.conf`` of the UI container (the upstream template, rendered).

    The API runs in the same pod, so the upstream is 127.0.0.1. IPv4 only: a ``[::]`` listener fails on
    nodes without IPv6. Temp files and the pid go to /tmp (upstream nginx.conf), an emptyDir here.
    """
    return f"""gzip on;
gzip_min_length 50000;
gzip_proxied expired no-cache no-store private auth;
gzip_types application/javascript application/json text/css text/plain image/svg+xml;

upstream model {{
    server 127.0.0.1:{api_port};
}}

server {{
    server_name _;
    listen {ui_port};
    root /var/www;
    index index.html;
    large_client_header_buffers 4 32k;
    add_header Cache-Control "max-age=300";

    location / {{
        try_files $uri /index.html;
    }}
    location /healthz {{
        access_log off;
        return 200 'OK';
    }}
    location /model/ {{
        proxy_connect_timeout 180s;
        proxy_send_timeout 180s;
        proxy_read_timeout 180s;
        proxy_pass http://model/;
        proxy_redirect off;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
}}
"""
