"""Names, ports and paths the Logging builders and the Logging component must agree on.

The Alloy configuration sends to the Loki Service rendered by the component, the scrape jobs select
pods by ``app.kubernetes.io/name`` and a named container port, and Grafana's data source points at the
same Service: every one of them reads the values below, so they cannot drift apart.
"""

from __future__ import annotations

from typing import Final

from components import conventions as cv

NAMESPACE: Final = cv.NS_LOGGING

# Loki (single binary) -------------------------------------------------------------------------------
LOKI: Final = "loki"
LOKI_HEADLESS: Final = "loki-headless"
LOKI_CONFIG_MAP: Final = "loki-config"
LOKI_CONFIG_KEY: Final = "loki.yaml"  # the policy pack reads this key of ConfigMaps labelled name=loki
LOKI_HTTP_PORT: Final = 3100
LOKI_HTTP_PORT_NAME: Final = "http-metrics"
LOKI_GRPC_PORT: Final = 9095
LOKI_GRPC_PORT_NAME: Final = "grpc"
LOKI_CONFIG_DIR: Final = "/etc/loki"
LOKI_DATA_DIR: Final = "/var/loki"  # the PersistentVolume: chunks, TSDB index, WAL, compactor state
LOKI_RUN_AS: Final = 10001  # the loki user of the upstream image
LOKI_PUSH_PATH: Final = "/loki/api/v1/push"
LOKI_READY_PATH: Final = "/ready"
LOKI_BUILDINFO_PATH: Final = "/loki/api/v1/status/buildinfo"

# Alloy (DaemonSet log collector) --------------------------------------------------------------------
ALLOY: Final = "alloy"
ALLOY_CONFIG_MAP: Final = "alloy-config"
ALLOY_CONFIG_KEY: Final = "config.alloy"
ALLOY_CONFIG_DIR: Final = "/etc/alloy"
ALLOY_DATA_DIR: Final = "/var/lib/alloy/data"  # positions of the API log tailers
ALLOY_HTTP_PORT: Final = 12345
ALLOY_HTTP_PORT_NAME: Final = "http-metrics"
ALLOY_RUN_AS: Final = 473  # the alloy user of the upstream image
ALLOY_CLUSTER_ROLE: Final = "hardening-alloy"
# Environment variable the DaemonSet fills from the downward API (spec.nodeName); the Alloy config
# reads it to discover only the pods of its own node.
NODE_NAME_ENV: Final = "NODE_NAME"

# Prometheus scrape job names (the Monitoring rules' Loki alerts select job="loki").
LOKI_JOB: Final = LOKI
ALLOY_JOB: Final = ALLOY


def loki_base_url(namespace: str = NAMESPACE) -> str:
    """In-cluster base URL of Loki's HTTP API (Grafana's data source URL, ``logcli --addr``)."""
    return f"http://{LOKI}.{namespace}.svc:{LOKI_HTTP_PORT}"


def loki_push_url(namespace: str = NAMESPACE) -> str:
    """In-cluster URL clients push logs to (Alloy's ``loki.write`` endpoint)."""
    return loki_base_url(namespace) + LOKI_PUSH_PATH
