"""The Loki configuration builder: the keys Loki 3.x needs for retention to actually delete, per stack.

Key names below were checked against Loki v3.7.5's sources (pkg/compactor/config.go,
pkg/validation/limits.go, pkg/storage/config/schema_config.go, pkg/loki/common/common.go). Loki
rejects unknown keys at start-up, so each section's key set is pinned exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from components.logging import loki_config as lc
from components.logging import names
from tests.logging.support import settings_for, stack_values

STACKS = ("dev", "prod")
_UNIT_HOURS = {"h": 1, "d": 24, "w": 168, "y": 8760}


def _doc(stack: str, **overrides: Any) -> dict[str, Any]:
    doc = yaml.safe_load(lc.render_for(settings_for(stack, **overrides)))
    assert isinstance(doc, dict)
    return doc


def _hours(value: str) -> int:
    m = re.fullmatch(r"(\d+)([hdwy])", value)
    assert m, value
    return int(m.group(1)) * _UNIT_HOURS[m.group(2)]


def _all_keys(node: Any, path: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield f"{path}.{k}" if path else str(k)
            yield from _all_keys(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for item in node:
            yield from _all_keys(item, path)


@pytest.mark.parametrize("stack", STACKS)
def test_compactor_has_exactly_the_retention_keys(stack: str) -> None:
    doc = _doc(stack)
    compactor = doc["compactor"]
    assert set(compactor) == {
        "working_directory",
        "compaction_interval",
        "retention_enabled",
        "retention_delete_delay",
        "retention_delete_worker_count",
        "delete_request_store",
    }
    # the three without which retention never deletes (or Loki 3.x refuses to start: #12588)
    assert compactor["retention_enabled"] is True
    assert compactor["delete_request_store"] == "filesystem"
    assert compactor["working_directory"] == f"{names.LOKI_DATA_DIR}/compactor"  # on the persistent volume
    # the delete-request store is the object store the schema writes chunks to
    assert compactor["delete_request_store"] == doc["schema_config"]["configs"][0]["object_store"]


@pytest.mark.parametrize("stack", STACKS)
def test_schema_is_tsdb_v13_with_a_24h_index_period(stack: str) -> None:
    configs = _doc(stack)["schema_config"]["configs"]
    assert configs == [
        {
            "from": "2025-01-01",
            "store": "tsdb",
            "object_store": "filesystem",
            "schema": "v13",
            "index": {"prefix": "index_", "period": "24h"},
        }
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_nothing_that_silently_disables_retention_or_stops_loki_3(stack: str) -> None:
    doc = _doc(stack)
    keys = set(_all_keys(doc))
    # removed in 3.0 (Loki refuses to start) or legacy paths where the compactor does not delete (#5116)
    assert not {k for k in keys if k.endswith("shared_store") or k.endswith("shared_store_key_prefix")}
    assert "table_manager" not in doc and "chunk_store_config" not in doc
    assert not {k for k in keys if "boltdb" in k}
    assert doc["compactor"].get("apply_retention_interval") is None  # default: with each compaction


@pytest.mark.parametrize("stack", STACKS)
def test_retention_matches_the_stack(stack: str) -> None:
    configured = stack_values(stack)["lokiRetention"]
    limits = _doc(stack)["limits_config"]
    assert _hours(limits["retention_period"]) == _hours(configured)
    assert limits["max_query_lookback"] == limits["retention_period"]
    assert _hours(limits["reject_old_samples_max_age"]) <= _hours(limits["retention_period"])


def test_prod_keeps_30_days_and_dev_less() -> None:
    prod = _hours(_doc("prod")["limits_config"]["retention_period"])
    dev = _hours(_doc("dev")["limits_config"]["retention_period"])
    assert prod == 30 * 24
    assert 24 <= dev < prod


@pytest.mark.parametrize("stack", STACKS)
def test_ingestion_limits_come_from_config(stack: str) -> None:
    values = stack_values(stack)
    limits = _doc(stack)["limits_config"]
    assert limits["ingestion_rate_mb"] == values["lokiIngestionRateMb"]
    assert limits["ingestion_burst_size_mb"] == values["lokiIngestionBurstMb"]
    per_stream = int(limits["per_stream_rate_limit"].removesuffix("MB"))
    per_stream_burst = int(limits["per_stream_rate_limit_burst"].removesuffix("MB"))
    assert 1 <= per_stream <= min(values["lokiIngestionRateMb"], 3)
    assert per_stream <= per_stream_burst <= values["lokiIngestionBurstMb"]


def test_limits_follow_overrides() -> None:
    limits = _doc("dev", lokiRetention="14d", lokiIngestionRateMb=2, lokiIngestionBurstMb=5)["limits_config"]
    assert (limits["retention_period"], limits["ingestion_rate_mb"], limits["ingestion_burst_size_mb"]) == (
        "336h",
        2,
        5,
    )
    assert (limits["per_stream_rate_limit"], limits["per_stream_rate_limit_burst"]) == ("2MB", "5MB")
    assert _doc("dev", lokiRetention="2d")["limits_config"]["reject_old_samples_max_age"] == "48h"


@pytest.mark.parametrize("stack", STACKS)
def test_every_section_has_exactly_the_expected_keys(stack: str) -> None:
    doc = _doc(stack)
    assert list(doc) == [
        "auth_enabled",
        "server",
        "common",
        "schema_config",
        "storage_config",
        "ingester",
        "compactor",
        "limits_config",
        "analytics",
    ]
    assert set(doc["server"]) == {"http_listen_port", "grpc_listen_port", "log_level"}
    assert set(doc["common"]) == {"path_prefix", "instance_addr", "replication_factor", "ring", "storage"}
    assert set(doc["storage_config"]) == {"tsdb_shipper"}
    assert set(doc["ingester"]) == {"wal"}
    assert set(doc["limits_config"]) == {
        "retention_period",
        "max_query_lookback",
        "ingestion_rate_mb",
        "ingestion_burst_size_mb",
        "per_stream_rate_limit",
        "per_stream_rate_limit_burst",
        "reject_old_samples",
        "reject_old_samples_max_age",
        "allow_structured_metadata",
        "volume_enabled",
    }
    assert doc["analytics"] == {"reporting_enabled": False}


@pytest.mark.parametrize("stack", STACKS)
def test_every_path_is_on_the_data_volume_and_ports_match_the_services(stack: str) -> None:
    doc = _doc(stack)
    paths = [
        doc["common"]["path_prefix"],
        *doc["common"]["storage"]["filesystem"].values(),
        *doc["storage_config"]["tsdb_shipper"].values(),
        doc["ingester"]["wal"]["dir"],
        doc["compactor"]["working_directory"],
    ]
    assert all(p == names.LOKI_DATA_DIR or p.startswith(names.LOKI_DATA_DIR + "/") for p in paths), paths
    assert len(set(paths)) == len(paths)
    assert doc["server"]["http_listen_port"] == names.LOKI_HTTP_PORT == 3100
    assert doc["server"]["grpc_listen_port"] == names.LOKI_GRPC_PORT == 9095


def test_wal_replay_memory_is_bounded_by_the_container_limit() -> None:
    s = settings_for("prod")
    ceiling = yaml.safe_load(lc.render_for(s))["ingester"]["wal"]["replay_memory_ceiling"]
    limit_bytes = 2 * 1024**3  # prod: memory=1Gi/2Gi
    assert s.logging.resources.memory_limit == "2Gi"
    assert int(ceiling.removesuffix("MB")) * 1_000_000 <= limit_bytes // 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"retention": "12h"}, "retention"),
        ({"retention": "36h30m"}, "retention"),
        ({"retention": "30 days"}, "retention"),
        ({"ingestion_rate_mb": 0}, "ingestion_rate_mb"),
        ({"ingestion_rate_mb": True}, "ingestion_rate_mb"),
        ({"ingestion_burst_mb": 2, "ingestion_rate_mb": 4}, "ingestion_burst_mb"),
        ({"data_dir": "relative/path"}, "data_dir"),
        ({"grpc_port": 3100}, "grpc_port"),
        ({"schema_from": "2025/01/01"}, "schema_from"),
        ({"log_level": "trace"}, "log_level"),
        ({"memory_limit": "2GB"}, "memory_limit"),
    ],
)
def test_bad_input_is_rejected_naming_the_field(change: dict[str, Any], field: str) -> None:
    base: dict[str, Any] = {"retention": "30d", "ingestion_rate_mb": 4, "ingestion_burst_mb": 8}
    with pytest.raises(ValueError, match=rf"^Loki config: {field} = .* is invalid; accepted: "):
        lc.loki_config(lc.LokiConfigInput(**{**base, **change}))


def test_rendered_text_is_the_dict_and_is_stable() -> None:
    s = settings_for("prod")
    text = lc.render_for(s)
    assert text.startswith("# Generated by components/logging/loki_config.py")
    assert yaml.safe_load(text) == lc.loki_config(lc.from_settings(s))
    assert text == lc.render_for(s)
