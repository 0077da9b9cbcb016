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


def platform() -> dict:
    return yaml.safe_load((ROOT / ".github/workflows/platform.yml").read_text())


def pulumi_steps(job: dict, command: str) -> list[dict]:
    return [
        s
        for s in job["steps"]
        if s.get("uses", "").startswith("pulumi/actions@") and s.get("with", {}).get("command") == command
    ]


def test_preview_runs_the_policy_pack_and_up_is_behind_environments() -> None:
    wf = platform()
    assert wf["permissions"] == {}
    for stack in ("dev", "prod"):
        (step,) = pulumi_steps(wf["jobs"][f"preview-{stack}"], "preview")
        assert step["with"]["comment-on-pr"] is True and step["with"]["policyPacks"] == "policies"
    assert wf["jobs"]["up-prod"]["environment"] == "production"
    assert wf["jobs"]["up-prod"]["needs"] == ["up-dev"]


def test_each_stack_is_previewed_with_its_own_kubeconfig_and_qualified_name() -> None:
    """#18.6: one KUBECONFIG served both stacks; ``stack-name: prod`` resolved in the token's default org."""
    wf = platform()
    kubeconfigs = set()
    for stack in ("dev", "prod"):
        job = wf["jobs"][f"preview-{stack}"]
        (step,) = pulumi_steps(job, "preview")
        assert step["with"]["stack-name"] == f"${{{{ vars.PULUMI_ORG }}}}/hardening/{stack}"
        assert step["with"]["policyPackConfigs"] == f"policies/config/{stack}.json"
        write = next(s for s in job["steps"] if "kubeconfig" in s.get("name", ""))
        kubeconfigs.add(write["env"]["KUBECONFIG_CONTENT"])
    assert kubeconfigs == {"${{ secrets.KUBECONFIG_DEV }}", "${{ secrets.KUBECONFIG_PROD }}"}
    for job in wf["jobs"].values():
        for step in pulumi_steps(job, "up") + pulumi_steps(job, "preview"):
            assert step["with"]["stack-name"].startswith("${{ vars.PULUMI_ORG }}/hardening/"), step


def test_one_owner_per_stack_and_the_image_is_read_under_the_lock() -> None:
    """#18.3: every ``pulumi up`` of a stack is in this repository, holds the job-level group
    ``stack-<stack>`` (queued, never cancelled) and checks out main only once it holds it; nothing reads
    the live image (the old step read it before any lock)."""
    wf = platform()
    up_jobs = {job_id: job for job_id, job in wf["jobs"].items() if pulumi_steps(job, "up")}
    assert set(up_jobs) == {"up-dev", "up-prod", "dispatched"}
    groups = {}
    for job_id, job in up_jobs.items():
        conc = job["concurrency"]
        assert conc["cancel-in-progress"] is False and conc["queue"] == "max", job_id
        groups[job_id] = conc["group"]
        checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
        assert checkout["with"]["ref"] == "main", job_id  # main as it is under the lock, not github.sha
        assert not any("kubectl get rollout " in s.get("run", "") for s in job["steps"]), job_id
        for step in pulumi_steps(job, "up"):
            assert "config-map" not in step["with"], job_id  # the version comes from the stack file
    assert groups == {"up-dev": "stack-dev", "up-prod": "stack-prod", "dispatched": "stack-${{ inputs.stack }}"}
    assert "queue" not in wf["concurrency"] or wf["concurrency"]["queue"] != "single"


def test_dispatched_deploys_record_the_version_before_up_and_commit_it() -> None:
    wf = platform()
    inputs = wf[True]["workflow_dispatch"]["inputs"]
    assert inputs["operation"]["options"] == ["deploy", "rollback"] and inputs["stack"]["options"] == ["dev", "prod"]
    steps = wf["jobs"]["dispatched"]["steps"]
    names = [s.get("name", s.get("uses", "")) for s in steps]
    record = names.index("Record the version in the stack file")
    commit = names.index("Commit the record to main")
    up = steps.index(pulumi_steps(wf["jobs"]["dispatched"], "up")[0])
    assert names.index("Validate the request") < record < commit < up
    assert "[skip ci]" in steps[commit]["run"] and steps[commit]["env"]["GH_TOKEN"] == "${{ secrets.STACK_BOT_TOKEN }}"
    abort = steps[names.index("Abort the canary in progress (rollback)")]
    assert abort["if"] == "inputs.operation == 'rollback'" and '{"status":{"abort":true}}' in abort["run"]
    assert pulumi_steps(wf["jobs"]["dispatched"], "up")[0]["with"]["target"] == "${{ steps.target.outputs.urn }}"
    for step in steps:
        assert "${{" not in step.get("run", ""), step.get("name")


def test_the_platform_prs_cost_comment_is_the_generated_one() -> None:
    """platform.yml's PRs get the cost estimate as ONE comment, by the very steps preview.yml runs (one
    behaviour, tested in tests/ci/test_pr_scripts.py against a fake GitHub API)."""
    from components.ci.workflows import build_workflows
    from components.ci.workflows.preview import COST_MARKER
    from tests.ci.helpers import options

    generated = build_workflows(options())["preview.yml"]["jobs"]
    jobs = platform()["jobs"]
    assert jobs["cost"]["steps"] == generated["render"]["steps"]
    assert (
        jobs["cost"]["permissions"] == {"contents": "read"}
        and jobs["cost"]["if"] == "github.event_name == 'pull_request'"
    )
    (mine,) = jobs["cost-comment"]["steps"]
    (theirs,) = generated["cost-comment"]["steps"]
    assert mine["run"] == theirs["run"] and mine["env"]["MARKER"] == COST_MARKER
    assert mine["env"]["COMMENT"] == "${{ needs.cost.outputs.comment }}"
    assert jobs["cost-comment"]["permissions"] == {"pull-requests": "write"}
    assert "head.repo.full_name == github.repository" in jobs["cost-comment"]["if"]
