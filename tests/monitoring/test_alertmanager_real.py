"""The rendered Alertmanager configuration with the real amtool and a real Alertmanager.

Debian ships Alertmanager/amtool 0.25; we deploy 0.28.1. Slack's ``api_url_file`` and PagerDuty's
``routing_key_file`` are checked as rendered. The webhook's ``url_file`` exists since 0.26
(prometheus/alertmanager#3223), so for that one field the check asserts that 0.25 rejects nothing
else and that the same configuration with the URL inlined passes.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from components.monitoring.alertmanager import (
    HEARTBEAT_FILE,
    PAGERDUTY_FILE,
    SECRET_FILES,
    SLACK_FILE,
    WEBHOOK_FILE,
    alertmanager_config,
    secret_file_paths,
)
from components.monitoring.scrape import to_yaml
from tests.monitoring.promsupport import AMTOOL, Alertmanager, WebhookReceiver, post_json, run_tool
from tests.support.procs import wait_until

DUMMY_URL = "https://hooks.example.invalid/services/T000/B000/not-a-secret"
SUBSETS = [
    list(c) for n in range(len(SECRET_FILES) + 1) for c in itertools.combinations(sorted(SECRET_FILES.values()), n)
]


def _secrets_dir(tmp: Path, files: list[str]) -> Path:
    d = tmp / "secrets"
    d.mkdir(exist_ok=True)
    for f in files:
        (d / f).write_text(DUMMY_URL if f != PAGERDUTY_FILE else "0123456789abcdef0123456789abcdef")
    return d


def _inline_webhook_url(cfg: dict[str, Any]) -> dict[str, Any]:
    """The 0.25-compatible twin: ``url_file: <path>`` -> ``url: <file content>`` (only that field)."""
    for receiver in cfg["receivers"]:
        for wh in receiver.get("webhook_configs", []):
            if "url_file" in wh:
                wh["url"] = Path(wh.pop("url_file")).read_text().strip()
    return cfg


@pytest.mark.tools
@pytest.mark.parametrize("files", SUBSETS, ids=lambda f: "+".join(f) or "none")
def test_amtool_check_config(tmp_path: Path, files: list[str]) -> None:
    secrets = _secrets_dir(tmp_path, files)
    cfg = alertmanager_config(secret_files=files, secrets_dir=str(secrets))
    assert sorted(secret_file_paths(cfg)) == sorted(str(secrets / f) for f in files)
    path = tmp_path / "alertmanager.yml"
    path.write_text(to_yaml(cfg))
    result = run_tool([AMTOOL, "check-config", str(path)])
    out = result.stdout + result.stderr
    if {WEBHOOK_FILE, HEARTBEAT_FILE} & set(files):
        errors = [line.strip() for line in out.splitlines() if "line " in line]
        assert result.returncode != 0 and errors
        assert all("field url_file not found" in e for e in errors), errors
        path.write_text(to_yaml(_inline_webhook_url(cfg)))
        result = run_tool([AMTOOL, "check-config", str(path)])
        out = result.stdout + result.stderr
    assert result.returncode == 0, out
    # null, plus "critical" when any receiver secret exists, plus "warning" when Slack or the webhook does
    # ... plus "heartbeat" when its URL exists
    people = set(files) - {HEARTBEAT_FILE}
    receivers = 1 + (1 if people else 0) + (1 if {SLACK_FILE, WEBHOOK_FILE} & people else 0)
    receivers += 1 if HEARTBEAT_FILE in files else 0
    assert f" - {receivers} receivers" in out, out


@pytest.mark.tools
@pytest.mark.parametrize(
    ("files", "severity", "receiver"),
    [
        ([SLACK_FILE, PAGERDUTY_FILE, WEBHOOK_FILE], "critical", "critical"),
        ([SLACK_FILE, PAGERDUTY_FILE, WEBHOOK_FILE], "warning", "warning"),
        ([SLACK_FILE, PAGERDUTY_FILE, WEBHOOK_FILE], "info", "null"),
        ([PAGERDUTY_FILE], "warning", "null"),  # PagerDuty pages on critical only
        ([PAGERDUTY_FILE], "critical", "critical"),
        ([], "critical", "null"),
    ],
)
def test_amtool_routes(tmp_path: Path, files: list[str], severity: str, receiver: str) -> None:
    _route_test(tmp_path, files, receiver, "alertname=HighErrorRatio", "namespace=web", f"severity={severity}")


@pytest.mark.tools
@pytest.mark.parametrize(
    ("files", "receiver"),
    [
        ([HEARTBEAT_FILE, SLACK_FILE, PAGERDUTY_FILE, WEBHOOK_FILE], "heartbeat"),
        ([SLACK_FILE, PAGERDUTY_FILE, WEBHOOK_FILE], "null"),  # no heartbeat: nowhere, never to people
    ],
)
def test_amtool_routes_the_watchdog_to_the_heartbeat_only(tmp_path: Path, files: list[str], receiver: str) -> None:
    _route_test(tmp_path, files, receiver, "alertname=Watchdog", "severity=warning")


def _route_test(tmp_path: Path, files: list[str], receiver: str, *labels: str) -> None:
    secrets = _secrets_dir(tmp_path, files)
    cfg = _inline_webhook_url(alertmanager_config(secret_files=files, secrets_dir=str(secrets)))
    path = tmp_path / "alertmanager.yml"
    path.write_text(to_yaml(cfg))
    result = run_tool(
        [
            AMTOOL,
            "config",
            "routes",
            "test",
            f"--config.file={path}",
            *labels,
        ]
    )
    assert result.stdout.strip() == receiver, result.stdout + result.stderr


@pytest.mark.server
def test_real_alertmanager_routes_and_inhibits(tmp_path: Path) -> None:
    """Critical silences warning for the same alertname + namespace, not for another namespace."""
    with WebhookReceiver() as hook:
        cfg = alertmanager_config(
            extra_webhooks={"test": hook.url}, group_wait="1s", group_interval="1s", repeat_interval="1h"
        )
        with Alertmanager(cfg, tmp_path) as am:

            def alert(name: str, namespace: str, severity: str) -> dict[str, Any]:
                return {
                    "labels": {"alertname": name, "namespace": namespace, "severity": severity},
                    "annotations": {"summary": f"{name} {severity}"},
                }

            assert (
                post_json(
                    f"{am.url}/api/v2/alerts",
                    [
                        alert("KubePersistentVolumeFillingUp", "monitoring", "critical"),
                        alert("KubePersistentVolumeFillingUp", "monitoring", "warning"),
                        alert("KubePersistentVolumeFillingUp", "logging", "warning"),
                        alert("Informational", "web", "info"),
                    ],
                )
                == 200
            )

            def delivered() -> bool:
                return len(hook.alerts()) >= 2

            wait_until(delivered, timeout=30, what="webhook notifications")
            time.sleep(3)  # a few more group intervals: an inhibited alert would have arrived by now
    got = sorted((a["labels"]["namespace"], a["labels"]["severity"]) for _, a in hook.alerts())
    assert got == [("logging", "warning"), ("monitoring", "critical")]


@pytest.mark.server
def test_real_alertmanager_sends_the_watchdog_to_the_heartbeat_and_nothing_else(tmp_path: Path) -> None:
    with WebhookReceiver() as heartbeat, WebhookReceiver() as people:
        secrets = _secrets_dir(tmp_path, [HEARTBEAT_FILE])
        (secrets / HEARTBEAT_FILE).write_text(heartbeat.url)
        cfg = alertmanager_config(
            secret_files=[HEARTBEAT_FILE],
            secrets_dir=str(secrets),
            extra_webhooks={"people": people.url},
            group_wait="1s",
            group_interval="1s",
        )
        with Alertmanager(_inline_webhook_url(cfg), tmp_path) as am:
            body = [
                {"labels": {"alertname": "Watchdog", "severity": "warning"}, "annotations": {"summary": "alive"}},
                {"labels": {"alertname": "TargetDown", "namespace": "web", "severity": "warning"}},
            ]
            assert post_json(f"{am.url}/api/v2/alerts", body) == 200
            wait_until(lambda: bool(heartbeat.alerts() and people.alerts()), timeout=30, what="both notifications")
            time.sleep(2)
    assert {a["labels"]["alertname"] for _, a in heartbeat.alerts()} == {"Watchdog"}
    assert {a["labels"]["alertname"] for _, a in people.alerts()} == {"TargetDown"}
