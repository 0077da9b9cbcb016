"""The deploy steps' real shell scripts against fake Railway and Render APIs on 127.0.0.1.

The scripts run with bash, curl and jq exactly as the workflow runs them; only the API base URL (an
``env:`` value of the step) points at the local server. Checked: the requests (auth header, GraphQL
variables, image URL), failure on API errors, that no token reaches the script's output, and (#18.4)
that a deploy or rollback is polled until it is live or failed, within a bounded time.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from components.ci.workflows import build_workflows
from tests.ci.helpers import options, step_named
from tests.support.fakehttp import FakeServer, JsonHandler

pytestmark = pytest.mark.server

RAILWAY_TOKEN = "railway-token-never-printed-1f2e"
RENDER_KEY = "rnd-key-never-printed-9c8b"
SHA = "0123456789abcdef0123456789abcdef01234567"


class FakeApis(FakeServer):
    """Railway's GraphQL endpoint and Render's deploy endpoint, recording every request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail = False
        self.statuses: list[str] = []  # the deployment's status on each poll; the last one repeats
        fake = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": None})
                if self.headers.get("Authorization") != f"Bearer {RENDER_KEY}":
                    self._send(401, {"message": "unauthorized"})
                elif self.path == "/v1/services/srv-abc123/deploys/dep-cafe":
                    self._send(200, {"id": "dep-cafe", "status": fake.next_status("live")})
                else:
                    self._send(404, {"message": "not found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if self.path == "/graphql/v2":
                    self._railway(body)
                elif self.path.startswith("/v1/services/") and self.path.endswith("/deploys"):
                    self._render()
                else:
                    self._send(404, {"error": "not found"})

            def _railway(self, body: dict[str, Any]) -> None:
                if self.headers.get("Project-Access-Token") != RAILWAY_TOKEN or fake.fail:
                    self._send(200, {"data": None, "errors": [{"message": "Not Authorized"}]})
                elif "projectToken" in body["query"]:
                    self._send(200, {"data": {"projectToken": {"environmentId": "env-42"}}})
                elif "serviceInstanceUpdate" in body["query"]:
                    self._send(200, {"data": {"serviceInstanceUpdate": True}})
                elif "serviceInstanceDeployV2" in body["query"]:
                    self._send(200, {"data": {"serviceInstanceDeployV2": "deployment-7"}})
                elif "deployment(id: $d)" in body["query"] and body["variables"] == {"d": "deployment-7"}:
                    self._send(200, {"data": {"deployment": {"status": fake.next_status("SUCCESS")}}})
                else:
                    self._send(400, {"errors": [{"message": "unknown operation"}]})

            def _render(self) -> None:
                if self.headers.get("Authorization") != f"Bearer {RENDER_KEY}" or fake.fail:
                    self._send(401, {"message": "unauthorized"})
                else:
                    self._send(202, {"id": "dep-cafe", "status": "created"})

        super().__init__(Handler)
        self.base = self.url

    def next_status(self, default: str) -> str:
        if not self.statuses:
            return default
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


@pytest.fixture
def apis() -> Iterator[FakeApis]:
    with FakeApis() as fake:
        yield fake


def deploy_step(target: str) -> dict[str, Any]:
    doc = build_workflows(options(deploy_railway=True, deploy_render=True))["deploy-production.yml"]
    return step_named(doc["jobs"][target], "Deploy the image")


def run_step(step: dict[str, Any], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    image = step["env"]["IMAGE"].replace("${{ github.sha }}", SHA)
    assert step["env"]["TIMEOUT_SECONDS"] == "900" and step["env"]["POLL_SECONDS"] == "10"
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "IMAGE": image, "POLL_SECONDS": "0", **env}
    return subprocess.run(["bash", "-c", step["run"]], env=full, capture_output=True, text=True, timeout=120)


def test_railway_points_the_service_at_the_new_image_and_deploys_it(apis: FakeApis) -> None:
    step = deploy_step("railway")
    assert step["env"]["RAILWAY_API"] == "https://backboard.railway.com/graphql/v2"
    proc = run_step(
        step, {"RAILWAY_TOKEN": RAILWAY_TOKEN, "RAILWAY_SERVICE_ID": "svc-1", "RAILWAY_API": f"{apis.base}/graphql/v2"}
    )
    assert proc.returncode == 0, proc.stderr
    assert "Railway deployment deployment-7 started for ghcr.io/example-org/orders-api:" + SHA in proc.stdout
    assert "Railway deployment deployment-7 is live" in proc.stdout
    ops = [r["body"] for r in apis.requests]
    assert len(ops) == 4 and all(r["headers"]["Project-Access-Token"] == RAILWAY_TOKEN for r in apis.requests)
    assert ops[1]["variables"] == {"s": "svc-1", "e": "env-42", "i": f"ghcr.io/example-org/orders-api:{SHA}"}
    assert "serviceInstanceUpdate" in ops[1]["query"] and "source: {image: $i}" in ops[1]["query"]
    assert ops[2]["variables"] == {"s": "svc-1", "e": "env-42"} and "serviceInstanceDeployV2" in ops[2]["query"]
    assert RAILWAY_TOKEN not in proc.stdout + proc.stderr


def test_railway_fails_on_a_graphql_error_and_stops(apis: FakeApis) -> None:
    proc = run_step(
        deploy_step("railway"),
        {"RAILWAY_TOKEN": "wrong-token", "RAILWAY_SERVICE_ID": "svc-1", "RAILWAY_API": f"{apis.base}/graphql/v2"},
    )
    assert proc.returncode != 0
    assert len(apis.requests) == 1  # nothing after the failed lookup
    assert "wrong-token" not in proc.stdout + proc.stderr


def test_render_triggers_a_deploy_of_exactly_the_image(apis: FakeApis) -> None:
    step = deploy_step("render")
    assert step["env"]["RENDER_API"] == "https://api.render.com/v1"
    proc = run_step(
        step, {"RENDER_API_KEY": RENDER_KEY, "RENDER_SERVICE_ID": "srv-abc123", "RENDER_API": f"{apis.base}/v1"}
    )
    assert proc.returncode == 0, proc.stderr
    req, poll = apis.requests
    assert poll["path"] == "/v1/services/srv-abc123/deploys/dep-cafe"
    assert "Render deploy dep-cafe is live" in proc.stdout
    assert req["path"] == "/v1/services/srv-abc123/deploys"
    assert req["body"] == {"imageUrl": f"ghcr.io/example-org/orders-api:{SHA}"}
    assert "Render deploy dep-cafe started" in proc.stdout
    assert RENDER_KEY not in proc.stdout + proc.stderr


def test_render_refuses_a_malformed_service_id_and_fails_on_401(apis: FakeApis) -> None:
    step = deploy_step("render")
    bad = run_step(
        step,
        {"RENDER_API_KEY": RENDER_KEY, "RENDER_SERVICE_ID": "srv-abc/../../owners", "RENDER_API": f"{apis.base}/v1"},
    )
    assert bad.returncode == 1 and "not a Render service id" in bad.stdout and apis.requests == []
    apis.fail = True
    denied = run_step(
        step, {"RENDER_API_KEY": RENDER_KEY, "RENDER_SERVICE_ID": "srv-abc123", "RENDER_API": f"{apis.base}/v1"}
    )
    assert denied.returncode != 0 and len(apis.requests) == 1
    assert RENDER_KEY not in denied.stdout + denied.stderr


RAILWAY_ENV = {"RAILWAY_TOKEN": RAILWAY_TOKEN, "RAILWAY_SERVICE_ID": "svc-1"}
RENDER_ENV = {"RENDER_API_KEY": RENDER_KEY, "RENDER_SERVICE_ID": "srv-abc123"}


@pytest.mark.parametrize(
    ("target", "statuses", "final"),
    [
        ("railway", ["BUILDING", "DEPLOYING", "SUCCESS"], "is live"),
        ("render", ["build_in_progress", "live"], "is live"),
    ],
)
def test_a_deploy_is_polled_until_it_is_live(apis: FakeApis, target: str, statuses: list[str], final: str) -> None:
    apis.statuses = list(statuses)
    env = (
        {**RAILWAY_ENV, "RAILWAY_API": f"{apis.base}/graphql/v2"}
        if target == "railway"
        else {
            **RENDER_ENV,
            "RENDER_API": f"{apis.base}/v1",
        }
    )
    proc = run_step(deploy_step(target), env)
    assert proc.returncode == 0, proc.stderr
    assert final in proc.stdout
    polls = [r for r in apis.requests if r["body"] is None or "deployment(id" in str(r["body"].get("query", ""))]
    assert len(polls) == len(statuses)


@pytest.mark.parametrize(
    ("target", "status"),
    [("railway", "FAILED"), ("railway", "CRASHED"), ("render", "build_failed"), ("render", "update_failed")],
)
def test_a_failed_deploy_fails_the_job(apis: FakeApis, target: str, status: str) -> None:
    """The finding: the job ended when the API accepted the request, so a failed rollback showed green."""
    apis.statuses = ["DEPLOYING" if target == "railway" else "update_in_progress", status]
    env = (
        {**RAILWAY_ENV, "RAILWAY_API": f"{apis.base}/graphql/v2"}
        if target == "railway"
        else {
            **RENDER_ENV,
            "RENDER_API": f"{apis.base}/v1",
        }
    )
    proc = run_step(deploy_step(target), env)
    assert proc.returncode == 1
    assert f"ended {status}" in proc.stdout


@pytest.mark.parametrize("target", ["railway", "render"])
def test_a_deploy_that_never_settles_times_out(apis: FakeApis, target: str) -> None:
    apis.statuses = ["BUILDING" if target == "railway" else "build_in_progress"]
    env = (
        {**RAILWAY_ENV, "RAILWAY_API": f"{apis.base}/graphql/v2"}
        if target == "railway"
        else {
            **RENDER_ENV,
            "RENDER_API": f"{apis.base}/v1",
        }
    )
    proc = run_step(deploy_step(target), {**env, "TIMEOUT_SECONDS": "1", "POLL_SECONDS": "1"})
    assert proc.returncode == 1
    assert "after 1 s" in proc.stdout


def test_the_rollback_runs_the_same_polled_scripts() -> None:
    docs = build_workflows(options(deploy_railway=True, deploy_render=True))
    for target in ("railway", "render"):
        rollback = step_named(docs["rollback.yml"]["jobs"][target], "Deploy the image")
        assert rollback["run"] == deploy_step(target)["run"]
        assert rollback["env"]["IMAGE"] == "ghcr.io/example-org/orders-api:${{ needs.validate.outputs.version }}"
