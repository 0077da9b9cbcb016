"""The PR and dispatch scripts run for real: bash, curl and jq against servers on 127.0.0.1.

- preview.yml's cost comment keeps ONE comment: it finds the bot's comment whose body starts with the
  hidden marker ``<!-- hardening-cost-estimate -->`` (on any page) and updates it, else creates it; a
  user's comment that quotes the marker is never touched.
- deploy-*.yml's Kubernetes job dispatches platform.yml and watches exactly the run it started (a fake
  ``gh`` on PATH records the calls and answers like the GitHub CLI).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from components.ci.workflows import build_workflows
from components.ci.workflows.preview import BOT_LOGIN, COST_MARKER
from tests.ci.helpers import options, step_named
from tests.support.fakehttp import FakeServer, JsonHandler

pytestmark = pytest.mark.server
TOKEN = "ghs_fake-token-never-printed-4242"
BODY = "\n".join(
    [
        COST_MARKER,
        "### Monthly cost estimate (prod)",
        "| component | before | after |",
        "| --- | --- | --- |",
        "| app | 10 | 12 |",
    ]
)


class FakeGithub(FakeServer):
    """GitHub's issue-comment REST endpoints for one pull request (100 per page, like per_page=100)."""

    def __init__(self, comments: list[dict[str, Any]]) -> None:
        self.comments = comments
        self.calls: list[tuple[str, str]] = []
        fake = self

        class Handler(JsonHandler):
            def _auth(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._send(401, {"message": "Bad credentials"})
                    return False
                return True

            def do_GET(self) -> None:
                fake.calls.append(("GET", self.path))
                if not self._auth():
                    return
                url = urlparse(self.path)
                page = int(parse_qs(url.query).get("page", ["1"])[0])
                if url.path == "/repos/example-org/orders-api/issues/7/comments":
                    self._send(200, fake.comments[(page - 1) * 100 : page * 100])
                else:
                    self._send(404, {"message": "Not Found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.calls.append(("POST", self.path))
                if self._auth() and self.path == "/repos/example-org/orders-api/issues/7/comments":
                    comment = {"id": 9000 + len(fake.comments), "user": {"login": BOT_LOGIN}, "body": body["body"]}
                    fake.comments.append(comment)
                    self._send(201, comment)

            def do_PATCH(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.calls.append(("PATCH", self.path))
                if not self._auth():
                    return
                for comment in fake.comments:
                    if self.path == f"/repos/example-org/orders-api/issues/comments/{comment['id']}":
                        if comment["user"]["login"] != BOT_LOGIN:
                            self._send(403, {"message": "not yours"})
                            return
                        comment["body"] = body["body"]
                        self._send(200, comment)
                        return
                self._send(404, {"message": "Not Found"})

        super().__init__(Handler)


def comment_step() -> dict[str, Any]:
    return step_named(build_workflows(options())["preview.yml"]["jobs"]["cost-comment"], "cost comment")


def post(fake: FakeGithub, body: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    step = comment_step()
    env = {
        "PATH": os.environ["PATH"],
        "RUNNER_TEMP": str(tmp_path),
        "GH_TOKEN": TOKEN,
        "GH_REPO": "example-org/orders-api",
        "API_URL": fake.url,
        "PR": "7",
        "COMMENT": body,
        "MARKER": step["env"]["MARKER"],
        "BOT": step["env"]["BOT"],
    }
    return subprocess.run(["bash", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def others() -> list[dict[str, Any]]:
    """150 comments (two pages) by people, one of them quoting the marker."""
    people = [{"id": i, "user": {"login": "reviewer"}, "body": f"comment {i}"} for i in range(1, 151)]
    people[3]["body"] = f"{COST_MARKER}\nI copied the bot's comment"
    return people


def test_the_first_push_creates_the_comment_and_later_pushes_update_it(tmp_path: Path, others: list) -> None:
    with FakeGithub(others) as fake:
        first = post(fake, BODY, tmp_path)
        assert first.returncode == 0, first.stderr
        assert "created the cost comment" in first.stdout
        second = post(fake, BODY.replace("| 12 |", "| 14 |"), tmp_path)
        assert second.returncode == 0, second.stderr
        assert "updated the cost comment 9150" in second.stdout
        third = post(fake, BODY.replace("| 12 |", "| 15 |"), tmp_path)
        assert third.returncode == 0, third.stderr
    bot = [c for c in fake.comments if c["user"]["login"] == BOT_LOGIN]
    assert len(bot) == 1 and bot[0]["body"].startswith(COST_MARKER) and "| 15 |" in bot[0]["body"]
    assert others[3]["body"] == f"{COST_MARKER}\nI copied the bot's comment"  # the user's copy is untouched
    assert [m for m, _ in fake.calls].count("POST") == 1 and [m for m, _ in fake.calls].count("PATCH") == 2
    assert TOKEN not in first.stdout + first.stderr + second.stdout + second.stderr


def test_a_body_without_the_marker_is_refused(tmp_path: Path) -> None:
    with FakeGithub([]) as fake:
        proc = post(fake, "### Monthly cost estimate", tmp_path)
    assert proc.returncode == 1 and "does not start with the marker" in proc.stdout and fake.calls == []


def test_the_cost_step_puts_the_marker_first() -> None:
    script = step_named(build_workflows(options())["preview.yml"]["jobs"]["render"], "Cost diff")
    assert script["env"]["MARKER"] == COST_MARKER == "<!-- hardening-cost-estimate -->"
    assert '"$(head -n 1 "$body")" != "$MARKER"' in script["run"]


# -- dispatch of platform.yml -----------------------------------------------------------------------
FAKE_GH = r"""#!/usr/bin/env bash
# A stand-in for the GitHub CLI: records every call, answers `run list` with runs of other requests
# first, then (from the second call) the run whose title carries this request id.
echo "$*" >> "$GH_LOG"
case "$1 $2" in
  "workflow run") exit 0 ;;
  "run list")
    n=$(grep -c '^run list' "$GH_LOG")
    if [ "$n" -lt 2 ]; then
      echo '[{"databaseId": 11, "displayTitle": "deploy orders-api abc to prod [other/repo#1.1]"}]'
    else
      printf '[{"databaseId": 11, "displayTitle": "deploy x y to prod [other/repo#1.1]"},
               {"databaseId": 42, "displayTitle": "deploy orders-api v to prod [%s]"}]\n' "$EXPECT"
    fi ;;
  "run watch") [ "$3" = "42" ] && exit "${WATCH_EXIT:-0}"; exit 9 ;;
  *) exit 3 ;;
esac
"""


@pytest.mark.parametrize(("watch_exit", "code"), [(0, 0), (1, 1)])
def test_the_deploy_dispatches_platform_yml_and_watches_exactly_its_run(
    tmp_path: Path, watch_exit: int, code: int
) -> None:
    job = build_workflows(options())["deploy-production.yml"]["jobs"]["kubernetes"]
    step = step_named(job, "Dispatch platform.yml (deploy)")
    (tmp_path / "bin").mkdir()
    gh = tmp_path / "bin" / "gh"
    gh.write_text(FAKE_GH)
    gh.chmod(0o755)
    log = tmp_path / "gh.log"
    request = "example-org/orders-api#5555.2"
    env = {
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "GH_LOG": str(log),
        "EXPECT": request,
        "WATCH_EXIT": str(watch_exit),
        "POLL_SECONDS": "0",
        "GITHUB_REPOSITORY": "example-org/orders-api",
        "GITHUB_RUN_ID": "5555",
        "GITHUB_RUN_ATTEMPT": "2",
        "GH_TOKEN": TOKEN,
        **{k: v for k, v in step["env"].items() if k not in ("GH_TOKEN", "VERSION")},
        "VERSION": "0123456789abcdef0123456789abcdef01234567",
    }
    proc = subprocess.run(["bash", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == code, proc.stdout + proc.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == (
        "workflow run platform.yml --repo example-org/hardening --ref main -f operation=deploy -f stack=prod "
        f"-f service=orders-api -f version=0123456789abcdef0123456789abcdef01234567 -f request={request}"
    )
    assert calls[-1].startswith("run watch 42 --repo example-org/hardening --exit-status")
    assert sum(c.startswith("run list") for c in calls) == 2  # waited for its own run, ignored run 11
    assert TOKEN not in proc.stdout + proc.stderr


def test_a_dispatch_whose_run_never_appears_fails(tmp_path: Path) -> None:
    step = step_named(build_workflows(options())["rollback.yml"]["jobs"]["kubernetes"], "Dispatch platform.yml")
    (tmp_path / "bin").mkdir()
    gh = tmp_path / "bin" / "gh"
    gh.write_text('#!/usr/bin/env bash\ncase "$1 $2" in "run list") echo "[]" ;; *) exit 0 ;; esac\n')
    gh.chmod(0o755)
    env = {
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "POLL_SECONDS": "0",
        "GITHUB_REPOSITORY": "example-org/orders-api",
        "GITHUB_RUN_ID": "1",
        "GITHUB_RUN_ATTEMPT": "1",
        **{k: v for k, v in step["env"].items() if k != "GH_TOKEN"},
    }
    proc = subprocess.run(["bash", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "did not appear" in proc.stdout
    assert step["env"]["OPERATION"] == "rollback"
