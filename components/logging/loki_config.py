"""Loki's configuration (single binary, filesystem storage) as plain data.

``loki_config(LokiConfigInput(...))`` returns the configuration dict; ``render(cfg)`` the ``loki.yaml``
text the component puts in the ``loki-config`` ConfigMap. ``from_settings(settings)`` builds the input
of a stack.

Retention that actually deletes (Loki 3.x). Loki keeps logs forever unless the compactor applies
retention; the ways a configuration "has" a retention period that never deletes anything
(grafana/loki#5116, #12588, docs "Log retention" and the 3.0 upgrade notes) are all closed here:

- ``compactor.retention_enabled: true``: without it ``limits_config.retention_period`` is never applied.
- ``compactor.delete_request_store`` set (here ``filesystem``, the object store of the schema): Loki
  3.x refuses to start with retention enabled and no delete-request store (#12588).
- ``compactor.working_directory`` on the persistent volume: the compactor keeps its marker files there;
  on an ephemeral disk a restart forgets chunks marked for deletion.
- the index is TSDB (schema v13) with a **24h** index period: the compactor applies retention per daily
  index table and does not support the legacy index types (#5116 used boltdb v11 + table_manager).
- ``shared_store`` is not set anywhere (removed in 3.0; Loki refuses to start with it), nor
  ``table_manager`` (deprecated; it does not delete with the TSDB index).
- ``limits_config.retention_period`` is the stack's ``lokiRetention``; ``max_query_lookback`` equals it,
  so chunks past retention but not yet deleted (``retention_delete_delay``) are not returned.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components import yamltext
from components.config import Resources, Settings, duration_seconds, memory_bytes
from components.logging import names

# The first day of the one schema period. It must stay fixed once a cluster has data: changing it
# would re-interpret stored chunks. A future schema change appends a new period with a later date.
SCHEMA_FROM = "2025-01-01"
SCHEMA_VERSION = "v13"
INDEX_STORE = "tsdb"
INDEX_PERIOD = "24h"  # retention is applied per daily index table: it must be 24h
OBJECT_STORE = "filesystem"
COMPACTION_INTERVAL = "10m"
RETENTION_DELETE_DELAY = "2h"  # marked chunks are deleted this long after marking
RETENTION_DELETE_WORKERS = 150
MIN_RETENTION_HOURS = 24
# Per-stream limits are capped at Loki's defaults (3MB/s, 15MB burst) and at the tenant limits.
PER_STREAM_RATE_CAP_MB = 3
PER_STREAM_BURST_CAP_MB = 15
REJECT_OLD_SAMPLES_MAX_HOURS = 168  # at most a week old, and never older than retention

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class LokiConfigInput:
    """Everything the Loki configuration depends on. ``retention`` is a single-unit duration (``30d``)."""

    retention: str
    ingestion_rate_mb: int
    ingestion_burst_mb: int
    memory_limit: str = "1Gi"  # the container's limit; bounds the WAL replay memory
    data_dir: str = names.LOKI_DATA_DIR
    http_port: int = names.LOKI_HTTP_PORT
    grpc_port: int = names.LOKI_GRPC_PORT
    schema_from: str = SCHEMA_FROM
    log_level: str = "info"


def _fail(field: str, value: Any, accepted: str) -> ValueError:
    return ValueError(f"Loki config: {field} = {value!r} is invalid; accepted: {accepted}")


def retention_hours(retention: str) -> int:
    """``retention`` (``30d``, ``720h``, ``1w``...) in whole hours, at least 24h."""
    accepted = f"a duration of whole hours, at least {MIN_RETENTION_HOURS}h (e.g. 7d, 30d, 720h)"
    try:
        seconds = duration_seconds(retention)
    except (ValueError, TypeError):
        raise _fail("retention", retention, accepted) from None
    if seconds % 3600 or seconds < MIN_RETENTION_HOURS * 3600:
        raise _fail("retention", retention, accepted)
    return int(seconds // 3600)


def _validate(inp: LokiConfigInput) -> int:
    hours = retention_hours(inp.retention)
    for fld, value, top in (
        ("ingestion_rate_mb", inp.ingestion_rate_mb, 1000),
        ("ingestion_burst_mb", inp.ingestion_burst_mb, 2000),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise _fail(fld, value, f"an integer from 1 to {top}")
    if inp.ingestion_burst_mb < inp.ingestion_rate_mb:
        raise _fail(
            "ingestion_burst_mb", inp.ingestion_burst_mb, f"at least ingestion_rate_mb ({inp.ingestion_rate_mb})"
        )
    if not isinstance(inp.data_dir, str) or not inp.data_dir.startswith("/") or inp.data_dir.endswith("/"):
        raise _fail("data_dir", inp.data_dir, "an absolute path without trailing slash")
    for fld, port in (("http_port", inp.http_port), ("grpc_port", inp.grpc_port)):
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise _fail(fld, port, "a port number 1..65535")
    if inp.http_port == inp.grpc_port:
        raise _fail("grpc_port", inp.grpc_port, "a port other than http_port")
    if not isinstance(inp.schema_from, str) or not _DATE.match(inp.schema_from):
        raise _fail("schema_from", inp.schema_from, "a date YYYY-MM-DD")
    if inp.log_level not in ("debug", "info", "warn", "error"):
        raise _fail("log_level", inp.log_level, "debug, info, warn or error")
    try:
        memory_bytes(inp.memory_limit)
    except (KeyError, ValueError, TypeError):
        raise _fail("memory_limit", inp.memory_limit, "a Kubernetes memory quantity in Ki, Mi, Gi or Ti") from None
    return hours


def loki_config(inp: LokiConfigInput) -> dict[str, Any]:
    """The Loki configuration dict for ``inp`` (raises ValueError naming the bad field)."""
    hours = _validate(inp)
    d = inp.data_dir
    # Half the memory limit for WAL replay: Loki flushes to storage rather than exceed it (default 4GB).
    replay_ceiling_mb = max(64, memory_bytes(inp.memory_limit) // 2 // 1_000_000)
    return {
        "auth_enabled": False,  # one tenant ("fake"); in-cluster access is limited by NetworkPolicy
        "server": {
            "http_listen_port": inp.http_port,
            "grpc_listen_port": inp.grpc_port,
            "log_level": inp.log_level,
        },
        "common": {
            "path_prefix": d,
            "instance_addr": "127.0.0.1",  # single binary: the ring is in memory, peers are itself
            "replication_factor": 1,
            "ring": {"kvstore": {"store": "inmemory"}},
            "storage": {"filesystem": {"chunks_directory": f"{d}/chunks", "rules_directory": f"{d}/rules"}},
        },
        "schema_config": {
            "configs": [
                {
                    "from": inp.schema_from,
                    "store": INDEX_STORE,
                    "object_store": OBJECT_STORE,
                    "schema": SCHEMA_VERSION,
                    "index": {"prefix": "index_", "period": INDEX_PERIOD},
                }
            ]
        },
        "storage_config": {
            "tsdb_shipper": {
                "active_index_directory": f"{d}/tsdb-index",
                "cache_location": f"{d}/tsdb-cache",
            }
        },
        "ingester": {
            "wal": {
                "enabled": True,
                "dir": f"{d}/wal",
                "replay_memory_ceiling": f"{replay_ceiling_mb}MB",
            }
        },
        "compactor": {
            "working_directory": f"{d}/compactor",
            "compaction_interval": COMPACTION_INTERVAL,
            "retention_enabled": True,
            "retention_delete_delay": RETENTION_DELETE_DELAY,
            "retention_delete_worker_count": RETENTION_DELETE_WORKERS,
            "delete_request_store": OBJECT_STORE,
        },
        "limits_config": {
            "retention_period": f"{hours}h",
            "max_query_lookback": f"{hours}h",
            "ingestion_rate_mb": inp.ingestion_rate_mb,
            "ingestion_burst_size_mb": inp.ingestion_burst_mb,
            "per_stream_rate_limit": f"{min(inp.ingestion_rate_mb, PER_STREAM_RATE_CAP_MB)}MB",
            "per_stream_rate_limit_burst": f"{min(inp.ingestion_burst_mb, PER_STREAM_BURST_CAP_MB)}MB",
            "reject_old_samples": True,
            "reject_old_samples_max_age": f"{min(hours, REJECT_OLD_SAMPLES_MAX_HOURS)}h",
            "allow_structured_metadata": True,  # needs TSDB + v13 (above)
            "volume_enabled": True,  # Grafana's log volume histogram
        },
        "analytics": {"reporting_enabled": False},  # no usage reports leave the cluster
    }


def render(cfg: Mapping[str, Any]) -> str:
    """``loki.yaml`` text (keys in the builder's order, so the file reads top-down)."""
    header = "# Generated by components/logging/loki_config.py; edit the builder, not this file.\n"
    return header + yamltext.dump(dict(cfg))


def from_settings(settings: Settings, resources: Resources | None = None) -> LokiConfigInput:
    """The Loki configuration input of a stack (retention and ingestion limits from stack config)."""
    lg = settings.logging
    res = resources or lg.resources
    return LokiConfigInput(
        retention=lg.retention,
        ingestion_rate_mb=lg.ingestion_rate_mb,
        ingestion_burst_mb=lg.ingestion_burst_mb,
        memory_limit=res.memory_limit,
    )


def render_for(settings: Settings) -> str:
    return render(loki_config(from_settings(settings)))
