"""The Alertmanager configuration: routing by severity, inhibition and file-based receivers.

Receiver secrets (webhook URL, Slack webhook URL, PagerDuty routing key) are never inlined: the
Monitoring component puts each one it has into a Kubernetes Secret mounted at ``secrets_dir``, and the
configuration points at the files (``url_file``, ``api_url_file``, ``routing_key_file``). Only the
receivers whose secret files exist are configured; with none, every alert goes to the ``null`` receiver.

Routing: ``Watchdog`` (always firing) goes to the ``heartbeat`` receiver when its secret exists (stack
key ``alertHeartbeatUrl``, file ``heartbeat-url``), re-sent every minute, else to ``null``; never to people.
Other alerts are grouped by ``alertname`` and ``namespace``; ``severity="critical"`` goes to the
``critical`` receiver (PagerDuty, Slack and the webhook, whichever exist), ``severity="warning"`` to the
``warning`` receiver (Slack and the webhook). A firing critical alert inhibits the warning alert with the
same ``alertname`` and ``namespace``.

Compatibility: ``api_url_file`` (Slack) and ``routing_key_file`` (PagerDuty) are accepted by
Alertmanager 0.25 and later; the webhook's ``url_file`` needs 0.26 or later (prometheus/alertmanager#3223;
we deploy 0.28.1, see ``components.versions``), so Debian's amtool 0.25 rejects that one field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from components.monitoring import names
from components.monitoring.scrape import duration_seconds

# Stack secret config key -> file name in the receivers Secret (and under ``secrets_dir``).
SECRET_FILES: dict[str, str] = {
    "alertWebhookUrl": "webhook-url",
    "alertSlackWebhookUrl": "slack-api-url",
    "alertPagerdutyRoutingKey": "pagerduty-routing-key",
    # The dead-man's switch: the Watchdog alert goes (only) there, every minute.
    "alertHeartbeatUrl": "heartbeat-url",
}
WEBHOOK_FILE = SECRET_FILES["alertWebhookUrl"]
SLACK_FILE = SECRET_FILES["alertSlackWebhookUrl"]
PAGERDUTY_FILE = SECRET_FILES["alertPagerdutyRoutingKey"]
HEARTBEAT_FILE = SECRET_FILES["alertHeartbeatUrl"]
HEARTBEAT_RECEIVER = "heartbeat"
HEARTBEAT_INTERVAL = "1m"
WATCHDOG_ALERT = "Watchdog"
NULL_RECEIVER = "null"
_RECEIVER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
_URL = re.compile(r"^https?://\S+$")


def _check_inputs(
    files: list[str], secrets_dir: str, slack_channel: str, webhooks: Mapping[str, str], durations: Mapping[str, str]
) -> None:
    """ValueError naming the argument, the bad value (never a webhook URL: it may be a secret) and what is accepted."""
    accepted = sorted(SECRET_FILES.values())
    for f in files:
        if f not in accepted:
            raise ValueError(f"secret_files entry {f!r} is invalid; accepted: {', '.join(accepted)}")
    if len(set(files)) != len(files):
        raise ValueError(f"secret_files = {files!r} lists a file twice; accepted: each file at most once")
    if not isinstance(secrets_dir, str) or not secrets_dir.startswith("/") or secrets_dir.endswith("/"):
        raise ValueError(f"secrets_dir = {secrets_dir!r} is invalid; accepted: an absolute path without trailing slash")
    if not isinstance(slack_channel, str) or not re.match(r"^[#@][\w.-]{1,80}$", slack_channel):
        raise ValueError(f"slack_channel = {slack_channel!r} is invalid; accepted: '#channel' or '@user'")
    for what, value in durations.items():
        if duration_seconds(value, what) <= 0:
            raise ValueError(f"{what} = {value!r} is invalid; accepted: a positive duration")
    for name, url in webhooks.items():
        if not isinstance(name, str) or not _RECEIVER_NAME.match(name):
            raise ValueError(f"extra_webhooks key {name!r} is invalid; accepted: lowercase letters, digits and '-'")
        if not isinstance(url, str) or not _URL.match(url):
            # never echo the value: it may be a secret pasted in the wrong place
            raise ValueError(f"extra_webhooks[{name!r}] is invalid; accepted: an http(s) URL")


def alertmanager_config(
    *,
    secret_files: Iterable[str] = (),
    secrets_dir: str = names.ALERTMANAGER_SECRETS_DIR,
    slack_channel: str = "#alerts",
    extra_webhooks: Mapping[str, str] | None = None,
    group_wait: str = "30s",
    group_interval: str = "5m",
    repeat_interval: str = "4h",
    resolve_timeout: str = "5m",
) -> dict[str, Any]:
    """The Alertmanager configuration as a dict.

    ``secret_files`` lists which of ``SECRET_FILES``' file names exist under ``secrets_dir``.
    ``extra_webhooks`` maps a name to a plain (non-secret) webhook URL, e.g. an in-cluster receiver;
    those receive every critical and warning alert, like the secret webhook.
    """
    files = list(secret_files)
    webhooks = dict(extra_webhooks or {})
    _check_inputs(
        files,
        secrets_dir,
        slack_channel,
        webhooks,
        {
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
            "resolve_timeout": resolve_timeout,
        },
    )

    def path(file_name: str) -> str:
        return f"{secrets_dir}/{file_name}"

    webhook_configs: list[dict[str, Any]] = []
    if WEBHOOK_FILE in files:
        webhook_configs.append({"url_file": path(WEBHOOK_FILE), "send_resolved": True})
    webhook_configs += [{"url": url, "send_resolved": True} for _, url in sorted(webhooks.items())]
    slack_configs: list[dict[str, Any]] = []
    if SLACK_FILE in files:
        slack_configs.append(
            {
                "api_url_file": path(SLACK_FILE),
                "channel": slack_channel,
                "send_resolved": True,
                "title": "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.namespace }})",
                "text": "{{ range .Alerts }}*{{ .Labels.severity }}*: {{ .Annotations.summary }}\n"
                "{{ .Annotations.description }}\nRunbook: {{ .Annotations.runbook_url }}\n{{ end }}",
            }
        )
    pagerduty_configs: list[dict[str, Any]] = []
    if PAGERDUTY_FILE in files:
        pagerduty_configs.append(
            {
                "routing_key_file": path(PAGERDUTY_FILE),
                "send_resolved": True,
                "severity": "{{ .CommonLabels.severity }}",
                "description": "{{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}",
                "links": [{"href": "{{ .CommonAnnotations.runbook_url }}", "text": "Runbook"}],
            }
        )

    receivers: list[dict[str, Any]] = [{"name": NULL_RECEIVER}]
    # The Watchdog never reaches a human: it goes to the heartbeat receiver (re-sent every minute, so the
    # dead-man's switch service notices within minutes when it stops), or to nowhere without one.
    watchdog: dict[str, Any] = {
        "receiver": NULL_RECEIVER,
        "matchers": [f'alertname="{WATCHDOG_ALERT}"'],
        "continue": False,
    }
    if HEARTBEAT_FILE in files:
        receivers.append(
            {
                "name": HEARTBEAT_RECEIVER,
                "webhook_configs": [{"url_file": path(HEARTBEAT_FILE), "send_resolved": False}],
            }
        )
        watchdog.update(
            receiver=HEARTBEAT_RECEIVER,
            group_wait="0s",
            group_interval=HEARTBEAT_INTERVAL,
            repeat_interval=HEARTBEAT_INTERVAL,
        )
    routes: list[dict[str, Any]] = [watchdog]
    for severity, integrations in (
        (
            "critical",
            {
                "pagerduty_configs": pagerduty_configs,
                "slack_configs": slack_configs,
                "webhook_configs": webhook_configs,
            },
        ),
        ("warning", {"slack_configs": slack_configs, "webhook_configs": webhook_configs}),
    ):
        present = {k: v for k, v in integrations.items() if v}
        if not present:
            continue
        receivers.append({"name": severity, **present})
        routes.append({"receiver": severity, "matchers": [f'severity="{severity}"']})

    return {
        "global": {"resolve_timeout": resolve_timeout},
        "route": {
            "receiver": NULL_RECEIVER,
            "group_by": ["alertname", "namespace"],
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
            "routes": routes,
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["alertname", "namespace"],
            }
        ],
        "receivers": receivers,
    }


def secret_file_paths(config: Mapping[str, Any]) -> list[str]:
    """Every distinct ``*_file`` path the configuration reads (for mounting and for tests)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key.endswith("_file") and isinstance(value, str):
                    if value not in out:
                        out.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(config)
    return out
