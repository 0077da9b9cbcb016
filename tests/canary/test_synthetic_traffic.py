"""The synthetic-traffic option: an Argo Job metric whose program calls the canary Service.

The rendered Job's own command and environment run here against the real orders API on loopback (only
TARGET_URL is pointed at 127.0.0.1); the app's request counter shows the traffic it made.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from components import conventions as cv
from components.canary import specs
from tests.app.appserver import AppProcess
from tests.support.crds import validate_custom_resource
from tests.support.procs import free_port

APP_IMAGE = "ghcr.io/example-org/orders-api:1.0.0"
BASE = specs.DeliveryInput(app="orders-api", namespace="web", synthetic_traffic=specs.SyntheticTraffic(image=APP_IMAGE))


def _job_metric(inp: specs.DeliveryInput) -> dict[str, Any]:
    metrics = specs.analysis_template(inp)["spec"]["metrics"]
    (metric,) = [m for m in metrics if m["name"] == specs.METRIC_SYNTHETIC]
    return metric


def test_job_metric_calls_the_canary_service_hardened_and_validates_against_the_crd() -> None:
    template = specs.analysis_template(BASE)
    validate_custom_resource(template)
    metric = _job_metric(BASE)
    assert metric["count"] == "{{args.measurements}}" and "initialDelay" not in metric  # traffic from the start
    job = metric["provider"]["job"]["spec"]
    pod = job["template"]["spec"]
    (c,) = pod["containers"]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env == {"TARGET_URL": "http://orders-api-canary.web.svc:80/orders?limit=1", "RPS": "2", "DURATION": "30"}
    assert c["image"] == APP_IMAGE and c["command"][:2] == ["python3", "-c"]
    assert c["securityContext"]["readOnlyRootFilesystem"] and c["securityContext"]["runAsNonRoot"]
    assert c["resources"]["limits"]["memory"] == "64Mi"
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert job["backoffLimit"] == 0 and job["activeDeadlineSeconds"] == 60
    # its pods are not the app's: no app selector (Rollout, PDB, app NetworkPolicy) counts them
    labels = job["template"]["metadata"]["labels"]
    assert labels[cv.LABEL_NAME] == "orders-api-synthetic-traffic" != BASE.app
    # the namespace denies egress: the companion policy lets exactly these pods reach the app's HTTP port
    policy = specs.synthetic_traffic_network_policy_spec(BASE)
    assert policy["pod_selector"] == {"match_labels": {cv.LABEL_NAME: "orders-api-synthetic-traffic"}}
    assert policy["policy_types"] == ["Egress"]
    (rule,) = policy["egress"]
    assert rule["ports"] == [{"port": specs.APP_PORT, "protocol": "TCP"}]
    assert rule["to"] == [
        {
            "namespace_selector": {"match_labels": {"kubernetes.io/metadata.name": "web"}},
            "pod_selector": {"match_labels": {cv.LABEL_NAME: "orders-api"}},
        }
    ]
    # blue/green: the preview Service, and the same template serves pre- and post-promotion runs
    bg = dataclasses.replace(BASE, strategy="blueGreen", preview_service="orders-api-preview")
    env = {
        e["name"]: e["value"]
        for e in _job_metric(bg)["provider"]["job"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["TARGET_URL"] == "http://orders-api-preview.web.svc:80/orders?limit=1"
    # without the option nothing changes
    names = [
        m["name"] for m in specs.analysis_template(dataclasses.replace(BASE, synthetic_traffic=None))["spec"]["metrics"]
    ]
    assert specs.METRIC_SYNTHETIC not in names


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"requests_per_second": 0.1},
            r"requests_per_second = 0.1 sends 4.5 requests per 45s window, fewer than "
            r"min_requests \(10\); accepted: at least 0.222222 per second",
        ),
        ({"requests_per_second": 0}, r"requests_per_second = 0 is invalid; accepted: a number above 0"),
        ({"path": "orders"}, r"synthetic_traffic.path = 'orders' is invalid; accepted: an absolute URL path"),
        ({"path": '/x" ; rm'}, r"synthetic_traffic.path = .* is invalid"),
        (
            {"image": "python"},
            r"synthetic_traffic.image = 'python' is invalid; accepted: an image with an explicit tag",
        ),
        ({"service_port": 0}, r"service_port = 0 is invalid; accepted: an integer in 1..65535"),
        ({"app": "a" * 50}, r"metadata.name\) = 'a{50}' is too long for synthetic traffic; accepted: at most 45"),
    ],
)
def test_bad_synthetic_traffic_is_refused_naming_the_field(changes: dict[str, Any], message: str) -> None:
    assert BASE.synthetic_traffic is not None
    top = {k: changes.pop(k) for k in list(changes) if k == "app"}
    bad = dataclasses.replace(BASE, **top, synthetic_traffic=dataclasses.replace(BASE.synthetic_traffic, **changes))
    with pytest.raises(specs.StrategyError, match=message):
        specs.validate(bad)


def _run_job(metric: dict[str, Any], target: str, duration: str) -> subprocess.CompletedProcess[str]:
    (c,) = metric["provider"]["job"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in c["env"]}
    env.update(TARGET_URL=target, DURATION=duration, PATH="/usr/bin:/bin")
    argv = [sys.executable, *c["command"][1:]]  # python3 -c <the rendered program>
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


def _served(app: AppProcess) -> float:
    import urllib.request

    with urllib.request.urlopen(app.url + "/metrics", timeout=5) as resp:  # noqa: S310 - loopback
        text = resp.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("http_requests_total{") and 'route="/orders"' in line
    )


@pytest.mark.server
def test_the_rendered_job_makes_traffic_the_canary_slis_count(tmp_path: Path) -> None:
    syn = specs.SyntheticTraffic(image=APP_IMAGE, requests_per_second=10)
    metric = _job_metric(dataclasses.replace(BASE, synthetic_traffic=syn))
    app = AppProcess(tmp_path, {"APP_SECRET_API_KEY": "synthetic-test-key"})
    app.start(ready_path="/readyz")
    try:
        before = _served(app)
        done = _run_job(metric, f"{app.url}/orders?limit=1", "3")
        after = _served(app)
    finally:
        app.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    answered = int(done.stdout.split("synthetic traffic: ")[1].split(" answered")[0])
    assert 20 <= answered <= 31, done.stdout  # 10 per second for 3 s
    assert after - before == answered  # every synthetic request is one the canary's SLIs count
    # nobody listening: the Job fails, which fails the measurement
    closed = _run_job(metric, f"http://127.0.0.1:{free_port()}/orders", "1")
    assert closed.returncode == 1 and "0 answered" in closed.stdout, closed.stdout + closed.stderr
