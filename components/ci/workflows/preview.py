"""preview.yml: what a pull request would change, before anyone merges it.

- ``render`` (every PR, forks included: no secret, read-only token): the offline render of each stack
  (``make render STACK=...``: manifests, workflows, policy report), the same render of the PR's base,
  and the cost diff (``python -m tools.cost diff BASE HEAD``) when the revision has ``tools/cost``.
  The diff is the job's output and its step summary; a rise above the threshold is a warning.
- ``cost comment`` (same-repository PRs): posts that diff as one PR comment, edited on every push.
  It has ``pull-requests: write`` and runs no code from the PR.
- ``preview (<stack>)`` (same-repository PRs; forks get no secrets): ``pulumi preview`` with the policy
  pack, commented on the PR, in the ``preview`` environment.
"""

from __future__ import annotations

from typing import Any

from components import versions
from components.ci.workflows.common import (
    PREVIEW,
    RUNNER,
    WorkflowOptions,
    checkout,
    install_program,
    run,
    secret_ref,
    setup_python,
    uses,
    with_secrets,
    write_kubeconfig,
)

FILE = "preview.yml"
SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository"
COST_DIFF = "python -m tools.cost diff"
BASE_DIR = ".base"

_RENDER_HEAD = """
set -euo pipefail
for stack in $STACKS; do
  make render STACK="$stack"
done
"""

_RENDER_BASE = f"""
set -euo pipefail
for stack in $STACKS; do
  if ! (cd {BASE_DIR} && ../.venv/bin/python -m tools.render --stack "$stack" --no-policy \\
        --out "$RUNNER_TEMP/base/$stack"); then
    echo "::warning::the base revision does not render stack $stack; no cost diff for it"
  fi
done
"""

_COST = f"""
set -euo pipefail
if [ ! -d tools/cost ] && [ ! -f tools/cost.py ]; then
  echo "this revision has no tools/cost; no cost diff"
  exit 0
fi
body="$RUNNER_TEMP/cost-comment.md"
: > "$body"
for stack in $STACKS; do
  [ -d "$RUNNER_TEMP/base/$stack" ] || continue
  if ! .venv/bin/{COST_DIFF} "$RUNNER_TEMP/base/$stack" "dist/$stack" >> "$body"; then
    echo "::warning::stack $stack: the monthly cost estimate rises above the threshold"
  fi
  echo >> "$body"
done
cat "$body" >> "$GITHUB_STEP_SUMMARY"
delimiter="COST_$(openssl rand -hex 16)"
{{
  echo "comment<<$delimiter"
  cat "$body"
  echo "$delimiter"
}} >> "$GITHUB_OUTPUT"
"""

_COMMENT = """
set -euo pipefail
printf '%s\\n' "$COMMENT" > "$RUNNER_TEMP/comment.md"
gh pr comment "$PR" --body-file "$RUNNER_TEMP/comment.md" --edit-last --create-if-none
"""


def preview(opts: WorkflowOptions) -> dict[str, Any]:
    stacks = " ".join(opts.preview_stacks)
    render = {
        "name": "render",
        "runs-on": RUNNER,
        "timeout-minutes": 20,
        "permissions": {"contents": "read"},
        "outputs": {"comment": "${{ steps.cost.outputs.comment }}"},
        "steps": [
            checkout(),
            checkout(ref="${{ github.event.pull_request.base.sha }}", path=BASE_DIR),
            setup_python(cache=True),
            run("Offline render of the pull request (make render)", _RENDER_HEAD, env={"STACKS": stacks}),
            run("Offline render of the base revision", _RENDER_BASE, env={"STACKS": stacks}),
            run("Cost diff", _COST, id="cost", env={"STACKS": stacks}),
        ],
    }
    comment = {
        "name": "cost comment",
        "needs": ["render"],
        "if": f"${{{{ needs.render.outputs.comment != '' && {SAME_REPO} }}}}",
        "runs-on": RUNNER,
        "timeout-minutes": 5,
        "permissions": {"pull-requests": "write"},
        "steps": [
            run(
                "Comment the cost diff on the pull request",
                _COMMENT,
                env={
                    "GH_TOKEN": "${{ github.token }}",
                    "GH_REPO": "${{ github.repository }}",
                    "PR": "${{ github.event.pull_request.number }}",
                    "COMMENT": "${{ needs.render.outputs.comment }}",
                },
            )
        ],
    }
    pulumi_preview = {
        "name": "preview (${{ matrix.stack }})",
        "needs": ["render"],
        "if": f"${{{{ {SAME_REPO} }}}}",
        "runs-on": RUNNER,
        "timeout-minutes": 30,
        "environment": PREVIEW,
        "permissions": {"contents": "read", "pull-requests": "write"},
        "strategy": {"fail-fast": False, "matrix": {"stack": list(opts.preview_stacks)}},
        "steps": [
            checkout(),
            setup_python(),
            install_program(),
            write_kubeconfig(),
            uses(
                "pulumi/actions",
                name="pulumi preview (policy pack on), commented on the PR",
                with_={
                    "command": "preview",
                    "stack-name": "${{ matrix.stack }}",
                    "pulumi-version": versions.PULUMI_CLI_VERSION,
                    "comment-on-pr": True,
                    "github-token": "${{ github.token }}",
                    "policyPacks": "policies",
                    "policyPackConfigs": "policies/config/${{ matrix.stack }}.json",
                },
                env={
                    "PULUMI_ACCESS_TOKEN": secret_ref("PULUMI_ACCESS_TOKEN"),
                    "KUBECONFIG": "${{ runner.temp }}/kubeconfig",
                },
            ),
        ],
    }
    return {
        "name": "preview",
        "on": {"pull_request": {"branches": ["main", "staging"]}},
        "permissions": {},
        "concurrency": {"group": "preview-${{ github.event.pull_request.number }}", "cancel-in-progress": True},
        "jobs": {
            "render": render,
            "cost-comment": comment,
            "preview": with_secrets(opts, pulumi_preview, PREVIEW, after=1),
        },
    }
