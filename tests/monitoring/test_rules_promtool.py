"""Every rule file passes ``promtool check rules``; every alert is unit-tested by ``promtool test rules``
on both sides of its threshold (and of its ``for``), with the production thresholds and durations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.logging.rules import loki_rule_group
from components.monitoring.rules import DEFAULT_RUNBOOK_BASE_URL, alert_names, rule_files, runbook_url
from components.vault import alerts as vault_alerts
from tests.monitoring.promsupport import PROMTOOL, run_tool, write_rules
from tests.monitoring.test_platform_alerts_promtool import ALWAYS_FIRING
from tests.monitoring.test_platform_alerts_promtool import CASES as PLATFORM_CASES


def _series(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f"{name}{{{labels}}}", "values": values}


def _alert(name: str, severity: str, labels: dict[str, str], summary: str, description: str) -> dict[str, Any]:
    return {
        "exp_labels": {"severity": severity, **labels},
        "exp_annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": runbook_url(DEFAULT_RUNBOOK_BASE_URL, name),
        },
    }


POD = {"namespace": "web", "pod": "orders-api-1", "container": "app"}
KSM = 'job="kube-state-metrics", namespace="web", pod="orders-api-1", container="app"'
PVC = 'job="kubelet", namespace="monitoring", persistentvolumeclaim="data-prometheus-0"'


def _pvc(available: int) -> list[dict[str, str]]:
    return [
        _series("kubelet_volume_stats_capacity_bytes", PVC, "100x20"),
        _series("kubelet_volume_stats_available_bytes", PVC, f"{available}x20"),
        _series("kubelet_volume_stats_used_bytes", PVC, f"{100 - available}x20"),
    ]


def _crash_summary() -> tuple[str, str]:
    return (
        "Container app of pod web/orders-api-1 is crash looping",
        "Container app of pod web/orders-api-1 keeps restarting (CrashLoopBackOff after 2 restarts in 5 "
        "minutes, or more than 3 restarts in 15 minutes).",
    )


def _sealed(pod: str) -> tuple[str, str]:
    return (
        f"Vault {pod} is sealed",
        f"Vault server vault/{pod} is sealed (or exports no seal status): it cannot serve secrets until it is "
        "unsealed.",
    )


def _oom() -> tuple[str, str]:
    return (
        "Container app of pod web/orders-api-1 was OOM-killed",
        "Container app of pod web/orders-api-1 restarted in the last 10 minutes after being killed for "
        "exceeding its memory limit.",
    )


# (alert, what, input series, [(eval_time, expected alerts)])
CASES: list[tuple[str, str, list[dict[str, str]], list[tuple[str, list[dict[str, Any]]]]]] = [
    (
        "KubePodCrashLooping",
        "CrashLoopBackOff after 2 restarts: fires after its for (1m)",
        [
            _series("kube_pod_container_status_waiting_reason", f'{KSM}, reason="CrashLoopBackOff"', "0 0 1x28"),
            _series("kube_pod_container_status_restarts_total", KSM, "0 1 2x28"),
        ],
        [("2m", []), ("4m", [_alert("KubePodCrashLooping", "warning", POD, *_crash_summary())])],
    ),
    (
        "KubePodCrashLooping",
        "one crash, back-off, then running again: no alert",
        [
            _series("kube_pod_container_status_waiting_reason", f'{KSM}, reason="CrashLoopBackOff"', "0 0 1 0x27"),
            _series("kube_pod_container_status_restarts_total", KSM, "0 1x29"),
        ],
        [("10m", [])],
    ),
    (
        "KubePodCrashLooping",
        "a restart every 3 minutes, never seen in back-off: fires once more than 3 fall in 15 minutes",
        [_series("kube_pod_container_status_restarts_total", KSM, "0 0 0 1 1 1 2 2 2 3 3 3 4 4 4 5x15")],
        [("9m", []), ("14m", [_alert("KubePodCrashLooping", "warning", POD, *_crash_summary())])],
    ),
    (
        "KubePodCrashLooping",
        "waiting in ContainerCreating, no restarts: no alert",
        [
            _series("kube_pod_container_status_waiting_reason", f'{KSM}, reason="ContainerCreating"', "1x30"),
            _series("kube_pod_container_status_restarts_total", KSM, "2x30"),
        ],
        [("25m", [])],
    ),
    (
        "KubeContainerOOMKilled",
        "OOM-killed and restarted: fires",
        [
            _series("kube_pod_container_status_last_terminated_reason", f'{KSM}, reason="OOMKilled"', "1x20"),
            _series("kube_pod_container_status_restarts_total", KSM, "0 0 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"),
        ],
        [("5m", [_alert("KubeContainerOOMKilled", "warning", POD, *_oom())])],
    ),
    (
        "KubeContainerOOMKilled",
        "OOM-killed long ago, no recent restart: no alert",
        [
            _series("kube_pod_container_status_last_terminated_reason", f'{KSM}, reason="OOMKilled"', "1x30"),
            _series("kube_pod_container_status_restarts_total", KSM, "1x30"),
        ],
        [("20m", [])],
    ),
    (
        "KubeContainerOOMKilled",
        "terminated with an error, not OOM: no alert",
        [
            _series("kube_pod_container_status_last_terminated_reason", f'{KSM}, reason="Error"', "1x20"),
            _series("kube_pod_container_status_restarts_total", KSM, "0 0 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"),
        ],
        [("5m", [])],
    ),
    ("KubePersistentVolumeFillingUp", "20 % free: no alert", _pvc(20), [("15m", [])]),
    (
        "KubePersistentVolumeFillingUp",
        "10 % free: warning",
        _pvc(10),
        [
            (
                "15m",
                [
                    _alert(
                        "KubePersistentVolumeFillingUp",
                        "warning",
                        {"job": "kubelet", "namespace": "monitoring", "persistentvolumeclaim": "data-prometheus-0"},
                        "Volume monitoring/data-prometheus-0 is almost full",
                        "Only 10% of volume data-prometheus-0 in monitoring is free.",
                    )
                ],
            )
        ],
    ),
    (
        "KubePersistentVolumeFillingUp",
        "2 % free: warning and critical (Alertmanager inhibits the warning)",
        _pvc(2),
        [
            (
                "15m",
                [
                    _alert(
                        "KubePersistentVolumeFillingUp",
                        "critical",
                        {"job": "kubelet", "namespace": "monitoring", "persistentvolumeclaim": "data-prometheus-0"},
                        "Volume monitoring/data-prometheus-0 is full",
                        "Only 2% of volume data-prometheus-0 in monitoring is free; writes will fail soon.",
                    ),
                    _alert(
                        "KubePersistentVolumeFillingUp",
                        "warning",
                        {"job": "kubelet", "namespace": "monitoring", "persistentvolumeclaim": "data-prometheus-0"},
                        "Volume monitoring/data-prometheus-0 is almost full",
                        "Only 2% of volume data-prometheus-0 in monitoring is free.",
                    ),
                ],
            )
        ],
    ),
    (
        "TargetDown",
        "target up: no alert",
        [_series("up", 'job="vault", instance="127.0.0.31:8200", namespace="vault", pod="vault-0"', "1x20")],
        [("15m", [])],
    ),
    (
        "TargetDown",
        "target down: fires after its for (10m)",
        [_series("up", 'job="vault", instance="127.0.0.31:8200", namespace="vault", pod="vault-0"', "0x20")],
        [
            ("9m", []),
            (
                "11m",
                [
                    _alert(
                        "TargetDown",
                        "warning",
                        {"job": "vault", "instance": "127.0.0.31:8200", "namespace": "vault", "pod": "vault-0"},
                        "Prometheus cannot scrape vault target 127.0.0.31:8200",
                        "Target 127.0.0.31:8200 of job vault (pod vault/vault-0) has been unreachable or failing.",
                    )
                ],
            ),
        ],
    ),
    (
        "PrometheusRuleEvaluationFailures",
        "no new failures: no alert",
        [
            _series(
                "prometheus_rule_evaluation_failures_total",
                'job="prometheus", namespace="monitoring", pod="prometheus-0", rule_group="sli"',
                "3x20",
            )
        ],
        [("15m", [])],
    ),
    (
        "PrometheusRuleEvaluationFailures",
        "one failure a minute: fires after its for (5m)",
        [
            _series(
                "prometheus_rule_evaluation_failures_total",
                'job="prometheus", namespace="monitoring", pod="prometheus-0", rule_group="sli"',
                "0+1x20",
            )
        ],
        [
            (
                "15m",
                [
                    _alert(
                        "PrometheusRuleEvaluationFailures",
                        "critical",
                        {"job": "prometheus", "namespace": "monitoring", "pod": "prometheus-0", "rule_group": "sli"},
                        "Prometheus prometheus-0 fails to evaluate rules",
                        "Prometheus prometheus-0 failed 5 rule evaluations of group sli in the last 5 minutes: "
                        "alerts and SLIs may be missing.",
                    )
                ],
            )
        ],
    ),
    (
        "AlertmanagerFailedToSendNotifications",
        "0.5 % failed: no alert",
        [
            _series(
                "alertmanager_notifications_total",
                'job="alertmanager", namespace="monitoring", pod="alertmanager-0", integration="slack"',
                "0+200x20",
            ),
            _series(
                "alertmanager_notifications_failed_total",
                'job="alertmanager", namespace="monitoring", pod="alertmanager-0", integration="slack", reason="other"',
                "0+1x20",
            ),
        ],
        [("15m", [])],
    ),
    (
        "AlertmanagerFailedToSendNotifications",
        "2 % failed: fires",
        [
            _series(
                "alertmanager_notifications_total",
                'job="alertmanager", namespace="monitoring", pod="alertmanager-0", integration="slack"',
                "0+100x20",
            ),
            _series(
                "alertmanager_notifications_failed_total",
                'job="alertmanager", namespace="monitoring", pod="alertmanager-0", integration="slack", reason="other"',
                "0+2x20",
            ),
        ],
        [
            (
                "15m",
                [
                    _alert(
                        "AlertmanagerFailedToSendNotifications",
                        "critical",
                        {"namespace": "monitoring", "pod": "alertmanager-0", "integration": "slack"},
                        "Alertmanager alertmanager-0 fails to send slack notifications",
                        "2% of the slack notifications of Alertmanager alertmanager-0 failed over the last 5 minutes.",
                    )
                ],
            )
        ],
    ),
    (
        "VaultSealed",
        "unsealed: no alert",
        [_series("vault_core_unsealed", 'job="vault", namespace="vault", pod="vault-0"', "1x10")],
        [("5m", [])],
    ),
    (
        "VaultSealed",
        "sealed: fires after its for (1m)",
        [
            _series("vault_core_unsealed", 'job="vault", namespace="vault", pod="vault-0"', "0x10"),
            _series("up", 'job="vault", namespace="vault", pod="vault-0"', "1x10"),
        ],
        [("5m", [_alert("VaultSealed", "critical", {"namespace": "vault", "pod": "vault-0"}, *_sealed("vault-0"))])],
    ),
    (
        "VaultSealed",
        "a restarted pod that is still sealed exports no vault_core_unsealed: fires too",
        [
            _series("vault_core_unsealed", 'job="vault", namespace="vault", pod="vault-0"', "1x10"),
            _series("up", 'job="vault", namespace="vault", pod="vault-0"', "1x10"),
            _series("up", 'job="vault", namespace="vault", pod="vault-1"', "1x10"),
        ],
        [("5m", [_alert("VaultSealed", "critical", {"namespace": "vault", "pod": "vault-1"}, *_sealed("vault-1"))])],
    ),
    (
        "LokiDown",
        "Loki up: no alert",
        [_series("up", 'job="loki", namespace="logging", pod="loki-0"', "1x10")],
        [("8m", [])],
    ),
    (
        "LokiDown",
        "Loki target down: fires after its for (5m)",
        [_series("up", 'job="loki", namespace="logging", pod="loki-0"', "0x10")],
        [
            ("4m", []),
            (
                "8m",
                [
                    _alert(
                        "LokiDown",
                        "critical",
                        {},
                        "Loki is down",
                        "No Loki target of job loki is up: logs are not ingested nor queryable.",
                    )
                ],
            ),
        ],
    ),
    (
        "LokiDiscardingSamples",
        "nothing discarded: no alert",
        [
            _series(
                "loki_discarded_samples_total",
                'job="loki", namespace="logging", reason="rate_limited", tenant="x"',
                "7x30",
            )
        ],
        [("20m", [])],
    ),
    (
        "LokiDiscardingSamples",
        "discarding one line a second: fires",
        [
            _series(
                "loki_discarded_samples_total",
                'job="loki", namespace="logging", reason="rate_limited", tenant="x"',
                "0+60x30",
            )
        ],
        [
            (
                "20m",
                [
                    _alert(
                        "LokiDiscardingSamples",
                        "warning",
                        {"namespace": "logging", "reason": "rate_limited"},
                        "Loki discards log lines (rate_limited)",
                        "Loki in logging discards 1 log lines per second (reason: rate_limited): those logs are lost.",
                    )
                ],
            )
        ],
    ),
    (
        "LokiRequestErrors",
        "4 % push errors: no alert",
        [
            _series(
                "loki_request_duration_seconds_count",
                'job="loki", namespace="logging", route="loki_api_v1_push", status_code="500"',
                "0+4x30",
            ),
            _series(
                "loki_request_duration_seconds_count",
                'job="loki", namespace="logging", route="loki_api_v1_push", status_code="204"',
                "0+96x30",
            ),
        ],
        [("20m", [])],
    ),
    (
        "LokiRequestErrors",
        "10 % push errors: fires",
        [
            _series(
                "loki_request_duration_seconds_count",
                'job="loki", namespace="logging", route="loki_api_v1_push", status_code="500"',
                "0+10x30",
            ),
            _series(
                "loki_request_duration_seconds_count",
                'job="loki", namespace="logging", route="loki_api_v1_push", status_code="204"',
                "0+90x30",
            ),
        ],
        [
            (
                "20m",
                [
                    _alert(
                        "LokiRequestErrors",
                        "critical",
                        {"namespace": "logging", "route": "loki_api_v1_push"},
                        "Loki fails requests on loki_api_v1_push",
                        "10% of the Loki requests on route loki_api_v1_push in logging failed with 5xx over the "
                        "last 5 minutes.",
                    )
                ],
            )
        ],
    ),
]


def _files() -> dict[str, dict[str, Any]]:
    """Monitoring's rule files with the Vault and Loki groups those areas hand in (as __main__.py does)."""
    base = DEFAULT_RUNBOOK_BASE_URL
    extra = [vault_alerts.rule_group(base), loki_rule_group(runbook_base_url=base)]
    return rule_files(runbook_base_url=base, extra_groups=extra)


def _unit_test_file(rule_file_names: list[str], cases: list[Any]) -> dict[str, Any]:
    tests = []
    for alert, what, series, evals in cases:
        tests.append(
            {
                "name": f"{alert}: {what}",
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [{"eval_time": t, "alertname": alert, "exp_alerts": exp} for t, exp in evals],
            }
        )
    return {"rule_files": rule_file_names, "evaluation_interval": "1m", "tests": tests}


def _run(tmp_path: Path, cases: list[Any]) -> tuple[int, str]:
    files = _files()
    write_rules(files, tmp_path)
    test_file = tmp_path / "alerts.test.yaml"
    test_file.write_text(yaml.safe_dump(_unit_test_file(sorted(files), cases), sort_keys=False))
    result = run_tool([PROMTOOL, "test", "rules", test_file.name], cwd=tmp_path)
    return result.returncode, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    """Here or in test_platform_alerts_promtool.py (the platform groups); the service alerts are tested in
    test_service_rules_promtool.py against every SLI contract."""
    fires = {c[0] for c in CASES if any(exp for _, exp in c[3])} | {c[0] for c in PLATFORM_CASES if c[4]}
    quiet = {c[0] for c in CASES if any(not exp for _, exp in c[3])} | {c[0] for c in PLATFORM_CASES if not c[4]}
    quiet |= ALWAYS_FIRING
    every = set(alert_names(_files()))
    assert every - fires == set(), "alerts without a firing case"
    assert every - quiet == set(), "alerts without a quiet case"


@pytest.mark.tools
def test_promtool_check_rules(tmp_path: Path) -> None:
    paths = write_rules(_files(), tmp_path)
    assert len(paths) >= 7
    result = run_tool([PROMTOOL, "check", "rules", *map(str, paths)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(paths)


@pytest.mark.tools
def test_promtool_test_rules_every_alert_both_sides(tmp_path: Path) -> None:
    code, out = _run(tmp_path, CASES)
    assert code == 0, out
    assert "SUCCESS" in out


@pytest.mark.tools
def test_promtool_test_rules_catches_a_wrong_expectation(tmp_path: Path) -> None:
    """The harness can fail: expecting silence at 5.1 % errors must be reported by promtool."""
    down = [_series("up", 'job="vault", instance="127.0.0.31:8200", namespace="vault", pod="vault-0"', "0x20")]
    wrong: list[Any] = [("TargetDown", "a target down wrongly expected quiet", down, [("15m", [])])]
    code, out = _run(tmp_path, wrong)
    assert code != 0
    assert "TargetDown" in out
