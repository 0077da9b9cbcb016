"""The repository's own workflow passes zizmor with no findings and GitHub's workflow schema."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def run_zizmor(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--no-progress", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_schema(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.tools
def test_repo_workflows_pass_zizmor() -> None:
    assert WORKFLOWS
    proc = run_zizmor(WORKFLOWS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr


@pytest.mark.tools
def test_repo_workflows_match_github_schema() -> None:
    proc = run_schema(WORKFLOWS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_action_is_pinned_by_sha_with_version_comment() -> None:
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            if "uses:" in line:
                assert re.search(r"uses: [\w./-]+@[0-9a-f]{40} # v?\d", line), f"{path.name}: {line.strip()}"


def test_preview_runs_the_policy_pack_and_up_is_behind_environments() -> None:
    wf = yaml.safe_load((ROOT / ".github/workflows/platform.yml").read_text())
    assert wf["permissions"] == {}
    preview = wf["jobs"]["preview"]
    step = next(s for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions@"))
    assert step["with"]["command"] == "preview" and step["with"]["comment-on-pr"] is True
    assert step["with"]["policyPacks"] == "policies"
    assert wf["jobs"]["up-prod"]["environment"] == "production"
    assert wf["jobs"]["up-prod"]["needs"] == ["up-dev"]


def test_up_jobs_take_the_deployed_tags_from_the_stack_files() -> None:
    """A platform deploy must not roll a service back: the deployed tags live in the stack files
    (hardening:services.<name>.tag), so `pulumi up` applies them and no run-time config overrides them."""
    wf = yaml.safe_load((ROOT / ".github/workflows/platform.yml").read_text())
    for job, stack in (("up-dev", "dev"), ("up-prod", "prod")):
        cfg = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        assert all("tag" in o for o in cfg["hardening:services"].values()), stack
        up = next(s for s in wf["jobs"][job]["steps"] if s.get("uses", "").startswith("pulumi/actions@"))
        assert "config-map" not in up["with"]
    assert wf["jobs"]["up-prod"]["concurrency"]["group"] == "deploy-production"
