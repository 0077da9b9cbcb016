"""The logging alert group: names coordinated with the Monitoring rules, runbooks in LOGGING_GUIDE.md,
``promtool check rules`` and ``promtool test rules`` on both sides of every alert (marked ``tools``)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.logging import names
from components.logging.addons import scrape_targets
from components.logging.rules import DEFAULT_FOR, GROUP_NAME, alert_names, logging_rule_group, loki_rule_group
from components.monitoring import rules as mrules
from components.monitoring.alert import runbook_url

PROMTOOL = "/usr/bin/promtool"
BASE = "https://github.com/example-org/hardening/blob/main/docs"
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "LOGGING_GUIDE.md"
LOKI = 'job="loki", namespace="logging", pod="loki-0"'
ALLOY = 'job="alloy", namespace="logging", pod="alloy-abcde"'


def _group(**kw: Any) -> dict[str, Any]:
    return logging_rule_group(runbook_base_url=BASE, **kw)


def test_group_is_valid_and_every_alert_is_complete() -> None:
    group = _group()
    mrules.validate_rule_group(group)
    assert group["name"] == GROUP_NAME
    assert [r["alert"] for r in group["rules"]] == alert_names() == list(DEFAULT_FOR)
    for rule in group["rules"]:
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert rule["annotations"]["runbook_url"] == f"{BASE}/LOGGING_GUIDE.md#{rule['alert'].lower()}"


def test_no_alert_duplicates_the_monitoring_rules_and_monitoring_accepts_the_group() -> None:
    monitoring = set(mrules.alert_names(mrules.rule_files()))
    loki = {r["alert"] for r in loki_rule_group(runbook_base_url=BASE)["rules"]}
    assert loki == {"LokiDown", "LokiDiscardingSamples", "LokiRequestErrors"}  # logging's, not Monitoring's
    assert not (set(alert_names()) | loki) & monitoring
    files = mrules.rule_files(extra_groups=[_group()])
    assert set(alert_names()) <= set(mrules.alert_names(files))


def test_alerts_select_the_scrape_jobs_logging_hands_to_monitoring() -> None:
    jobs = {t.name for t in scrape_targets()}
    assert jobs == {names.LOKI_JOB, names.ALLOY_JOB}
    # the loki group's alerts select job="loki": the Loki scrape job must carry that name
    loki_exprs = [r["expr"] for r in loki_rule_group(runbook_base_url=BASE)["rules"]]
    assert loki_exprs and all('job="loki"' in e for e in loki_exprs)
    for rule in _group()["rules"]:
        selected = set(re.findall(r'job="([^"]+)"', rule["expr"]))
        assert selected <= jobs, rule["alert"]


def test_every_runbook_anchor_is_a_heading_of_the_logging_guide() -> None:
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in GUIDE.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in _group()["rules"]:
        url = rule["annotations"]["runbook_url"]
        assert url.split("#", 1)[1] in anchors, url


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"runbook_base_url": "http://insecure.example/docs"}, "runbook_base_url"),
        ({"runbook_base_url": BASE + "/"}, "runbook_base_url"),
        ({"runbook_base_url": BASE, "alert_for": {"LokiDown": "5m"}}, "unknown alert"),
        ({"runbook_base_url": BASE, "alert_for": {"LokiWalDiskFull": "soon"}}, "LokiWalDiskFull"),
    ],
)
def test_bad_input_is_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        logging_rule_group(**kwargs)


# --------------------------------------------------------------------------------------------------
# promtool
# --------------------------------------------------------------------------------------------------
def _s(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f"{name}{{{labels}}}", "values": values}


def _exp(name: str, severity: str, labels: dict[str, str], summary: str, description: str) -> dict[str, Any]:
    return {
        "exp_labels": {"severity": severity, **labels},
        "exp_annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": runbook_url(BASE, name, "LOGGING_GUIDE.md"),
        },
    }


POD = {"namespace": "logging", "pod": "loki-0"}
APOD = {"namespace": "logging", "pod": "alloy-abcde"}
RETENTION_DESC = (
    "The compactor of logging/loki-0 has not completed a retention run in the last 3 hours (or ever "
    "since it started): logs older than the retention period are not being deleted and the volume "
    "keeps growing."
)

# (alert, description, input series, [(eval_time, expected alerts)])
CASES: list[tuple[str, str, list[dict[str, str]], list[tuple[str, list[dict[str, Any]]]]]] = [
    (
        "LokiRetentionNotApplied",
        "retention never ran in 4h of uptime",
        [
            _s("process_start_time_seconds", LOKI, "0x300"),
            _s("loki_compactor_apply_retention_last_successful_run_timestamp_seconds", LOKI, "0x300"),
        ],
        [
            ("3h", []),  # not yet 3h of uptime
            (
                "4h",
                [
                    _exp(
                        "LokiRetentionNotApplied",
                        "warning",
                        POD,
                        "Loki loki-0 has not applied retention for 3 hours",
                        RETENTION_DESC,
                    )
                ],
            ),
        ],
    ),
    (
        "LokiRetentionNotApplied",
        "retention runs every 10 minutes",
        [
            _s("process_start_time_seconds", LOKI, "0x300"),
            # the timestamp of the last run: 600 s at 10m, 1200 s at 20m, ... (value = 60 s per sample)
            _s("loki_compactor_apply_retention_last_successful_run_timestamp_seconds", LOKI, "0+60x300"),
        ],
        [("4h", [])],
    ),
    (
        "LokiRetentionNotApplied",
        "restarted recently: too early to tell",
        [
            _s("process_start_time_seconds", LOKI, "13000x300"),
            _s("loki_compactor_apply_retention_last_successful_run_timestamp_seconds", LOKI, "0x300"),
        ],
        [("4h", [])],
    ),
    (
        "LokiChunkFlushFailures",
        "one failed flush per minute",
        [_s("loki_ingester_chunks_flush_failures_total", LOKI, "0+1x40")],
        [
            ("5m", []),  # not for 10m yet
            (
                "30m",
                [
                    _exp(
                        "LokiChunkFlushFailures",
                        "critical",
                        POD,
                        "Loki loki-0 fails to write chunks to storage",
                        "logging/loki-0 failed 10 chunk flushes in the last 10 minutes: ingested logs stay in memory "
                        "and the WAL and are lost if it cannot recover.",
                    )
                ],
            ),
        ],
    ),
    (
        "LokiChunkFlushFailures",
        "no failure",
        [_s("loki_ingester_chunks_flush_failures_total", LOKI, "3x40")],
        [("30m", [])],
    ),
    (
        "LokiWalDiskFull",
        "the WAL disk filled up",
        [_s("loki_ingester_wal_disk_full_failures_total", LOKI, "0 0 0 0 0 0 0 0 0 0 1 2 3 4 5 6 7 8 9 10")],
        [
            ("8m", []),
            (
                "15m",
                [
                    _exp(
                        "LokiWalDiskFull",
                        "critical",
                        POD,
                        "Loki loki-0 WAL disk is full",
                        "logging/loki-0 could not write its write-ahead log because the volume is full: it keeps "
                        "ingesting without a WAL, so a restart now loses logs.",
                    )
                ],
            ),
        ],
    ),
    ("LokiWalDiskFull", "disk fine", [_s("loki_ingester_wal_disk_full_failures_total", LOKI, "0x20")], [("15m", [])]),
    (
        "AlloyLogEntriesDropped",
        "Loki rate-limits Alloy for good",
        [
            _s(
                "loki_write_dropped_entries_total",
                f'{ALLOY}, host="loki.logging.svc:3100", reason="rate_limited"',
                "0+120x40",
            )
        ],
        [
            ("5m", []),
            (
                "30m",
                [
                    _exp(
                        "AlloyLogEntriesDropped",
                        "warning",
                        {**APOD, "reason": "rate_limited"},
                        "Alloy alloy-abcde drops log lines (rate_limited)",
                        "Alloy logging/alloy-abcde drops 2 log lines per second that it could not deliver to Loki "
                        "(reason: rate_limited): those logs are lost.",
                    )
                ],
            ),
        ],
    ),
    (
        "AlloyLogEntriesDropped",
        "nothing dropped",
        [
            _s(
                "loki_write_dropped_entries_total",
                f'{ALLOY}, host="loki.logging.svc:3100", reason="rate_limited"',
                "7x40",
            )
        ],
        [("30m", [])],
    ),
    (
        "AlloyLokiWriteErrors",
        "10 % of pushes answered 429",
        [
            _s("loki_write_request_duration_seconds_count", f'{ALLOY}, host="h", status_code="204"', "0+9x40"),
            _s("loki_write_request_duration_seconds_count", f'{ALLOY}, host="h", status_code="429"', "0+1x40"),
        ],
        [
            ("10m", []),
            (
                "30m",
                [
                    _exp(
                        "AlloyLokiWriteErrors",
                        "warning",
                        APOD,
                        "Alloy alloy-abcde push requests to Loki fail",
                        "10% of the push requests of Alloy logging/alloy-abcde to Loki failed over the last 5 minutes "
                        "(rate limited, Loki unready or unreachable); Alloy retries, then drops.",
                    )
                ],
            ),
        ],
    ),
    (
        "AlloyLokiWriteErrors",
        "4 % errors is below the 5 % threshold",
        [
            _s("loki_write_request_duration_seconds_count", f'{ALLOY}, host="h", status_code="204"', "0+24x40"),
            _s("loki_write_request_duration_seconds_count", f'{ALLOY}, host="h", status_code="500"', "0+1x40"),
        ],
        [("30m", [])],
    ),
    (
        "AlloyCollectorUnavailable",
        "one node without a collector",
        [
            _s(
                "kube_daemonset_status_number_unavailable",
                'job="kube-state-metrics", namespace="logging", daemonset="alloy"',
                "1x40",
            ),
            _s(
                "kube_daemonset_status_number_unavailable",
                'job="kube-state-metrics", namespace="node-exporter", daemonset="node-exporter"',
                "3x40",
            ),
        ],
        [
            ("10m", []),
            (
                "30m",
                [
                    _exp(
                        "AlloyCollectorUnavailable",
                        "warning",
                        {"namespace": "logging", "daemonset": "alloy"},
                        "1 node(s) have no running log collector",
                        "DaemonSet logging/alloy has 1 unavailable pod(s): the logs of the pods on those nodes are "
                        "not collected.",
                    )
                ],
            ),
        ],
    ),
    (
        "AlloyCollectorUnavailable",
        "every collector running",
        [
            _s(
                "kube_daemonset_status_number_unavailable",
                'job="kube-state-metrics", namespace="logging", daemonset="alloy"',
                "0x40",
            )
        ],
        [("30m", [])],
    ),
]


def _write(tmp_path: Path, cases: list[Any]) -> Path:
    rules = tmp_path / "logging-alerts.yaml"
    rules.write_text(yaml.safe_dump({"groups": [_group()]}, sort_keys=False))
    tests = [
        {
            "name": f"{alert}: {what}",
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [{"eval_time": t, "alertname": alert, "exp_alerts": exp} for t, exp in evals],
        }
        for alert, what, series, evals in cases
    ]
    test_file = tmp_path / "logging-alerts.test.yaml"
    test_file.write_text(
        yaml.safe_dump({"rule_files": [rules.name], "evaluation_interval": "1m", "tests": tests}, sort_keys=False)
    )
    return test_file


def _promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    fires = {c[0] for c in CASES if any(exp for _, exp in c[3])}
    quiet = {c[0] for c in CASES if any(not exp for _, exp in c[3])}
    assert fires == quiet == set(alert_names())


@pytest.mark.tools
def test_promtool_check_rules(tmp_path: Path) -> None:
    path = tmp_path / "logging-alerts.yaml"
    path.write_text(yaml.safe_dump({"groups": [_group()]}, sort_keys=False))
    result = _promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in result.stdout


@pytest.mark.tools
def test_promtool_test_rules_every_alert_both_sides(tmp_path: Path) -> None:
    test_file = _write(tmp_path, CASES)
    result = _promtool("test", "rules", test_file.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.tools
def test_promtool_test_rules_catches_a_wrong_expectation(tmp_path: Path) -> None:
    """The harness can fail: expecting silence while retention never runs must be reported."""
    wrong: list[Any] = [(CASES[0][0], "wrongly expected quiet", CASES[0][2], [("4h", [])])]
    result = _promtool("test", "rules", _write(tmp_path, wrong).name, cwd=tmp_path)
    assert result.returncode != 0
    assert "LokiRetentionNotApplied" in result.stdout + result.stderr
