"""preview.yml: what a pull request would change, before anyone merges it.

- ``render`` (every PR, forks included: no secret, read-only token): the offline render of each stack
  (``make render STACK=...``: manifests, workflows, policy report), the same render of the PR's base,
  and the cost diff (``python -m tools.cost diff BASE HEAD``) when the revision has ``tools/cost``.
  The diff is the job's output and its step summary; a rise above the threshold is a warning.
- ``cost comment`` (same-repository PRs): keeps ONE PR comment with that diff. The body starts with
  the hidden marker line ``<!-- hardening-cost-estimate -->``; the job finds the bot's comment that
  starts with it and updates it, else creates it (other comments, a user's copy of the marker
  included, are never touched). It has ``pull-requests: write`` and runs no code from the PR.
- ``preview-<stack>`` (same-repository PRs; forks get no secrets): one job per stack, each with its own
  kubeconfig (``KUBECONFIG_<STACK>``) and the fully qualified stack name ``org/hardening/<stack>``:
  ``pulumi preview`` with the policy pack, commented on the PR, in the ``preview`` environment (Vault
  mode: role ``ci-<repo>-preview``, read-only).
"""

from __future__ import annotations

import re
from typing import Any

from components import versions
from components.ci.workflows.common import (
    PREVIEW,
    RUNNER,
    WorkflowOptions,
    checkout,
    install_program,
    kubeconfig_secret,
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
COST_MARKER = "<!-- hardening-cost-estimate -->"

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
# The marker line identifies the one comment this workflow keeps up to date.
if [ -s "$body" ] && [ "$(head -n 1 "$body")" != "$MARKER" ]; then
  {{ echo "$MARKER"; cat "$body"; }} > "$body.marked" && mv "$body.marked" "$body"
fi
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
body="$RUNNER_TEMP/comment.md"
printf '%s\\n' "$COMMENT" > "$body"
if [ "$(head -n 1 "$body")" != "$MARKER" ]; then
  echo "::error::the cost comment does not start with the marker line"
  exit 1
fi
api() {
  curl --fail-with-body --silent --show-error --retry 3 --max-time 60 \\
    -H "Authorization: Bearer $GH_TOKEN" -H 'Accept: application/vnd.github+json' \\
    -H 'X-GitHub-Api-Version: 2022-11-28' "$@"
}
# The bot's earlier comment with the marker (every page; a user's comment with the marker is ignored).
comment_id=""
page=1
while [ -z "$comment_id" ]; do
  batch="$(api "$API_URL/repos/$GH_REPO/issues/$PR/comments?per_page=100&page=$page")"
  [ "$(jq 'length' <<<"$batch")" -eq 0 ] && break
  comment_id="$(jq -r --arg m "$MARKER" --arg bot "$BOT" \\
    '[.[] | select(.user.login == $bot and (.body | startswith($m)))][0].id // empty' <<<"$batch")"
  page=$((page + 1))
done
payload="$(jq -Rs '{body: .}' < "$body")"
if [ -n "$comment_id" ]; then
  api -X PATCH --data "$payload" "$API_URL/repos/$GH_REPO/issues/comments/$comment_id" >/dev/null
  echo "updated the cost comment $comment_id"
else
  api -X POST --data "$payload" "$API_URL/repos/$GH_REPO/issues/$PR/comments" >/dev/null
  echo "created the cost comment"
fi
"""
BOT_LOGIN = "github-actions[bot]"  # the author of comments made with the workflow's GITHUB_TOKEN


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
            run("Cost diff", _COST, id="cost", env={"STACKS": stacks, "MARKER": COST_MARKER}),
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
                "Update the one cost comment on the pull request (or create it)",
                _COMMENT,
                env={
                    "GH_TOKEN": "${{ github.token }}",
                    "GH_REPO": "${{ github.repository }}",
                    "API_URL": "${{ github.api_url }}",
                    "PR": "${{ github.event.pull_request.number }}",
                    "COMMENT": "${{ needs.render.outputs.comment }}",
                    "MARKER": COST_MARKER,
                    "BOT": BOT_LOGIN,
                },
            )
        ],
    }
    previews = {
        preview_job_id(stack): with_secrets(opts, _preview_job(opts, stack), PREVIEW, after=1)
        for stack in opts.preview_stacks
    }
    return {
        "name": "preview",
        "on": {"pull_request": {"branches": ["main", "staging"]}},
        "permissions": {},
        "concurrency": {"group": "preview-${{ github.event.pull_request.number }}", "cancel-in-progress": True},
        "jobs": {"render": render, "cost-comment": comment, **previews},
    }


def preview_job_id(stack: str) -> str:
    """``preview-<stack>`` as a valid job id (letters, digits, ``-``, ``_``: a stack name may hold dots)."""
    return "preview-" + re.sub(r"[^A-Za-z0-9_-]", "-", stack)


def _preview_job(opts: WorkflowOptions, stack: str) -> dict[str, Any]:
    """``pulumi preview`` of one stack with that stack's own kubeconfig and its fully qualified name."""
    return {
        "name": f"preview ({stack})",
        "needs": ["render"],
        "if": f"${{{{ {SAME_REPO} }}}}",
        "runs-on": RUNNER,
        "timeout-minutes": 30,
        "environment": PREVIEW,
        "permissions": {"contents": "read", "pull-requests": "write"},
        "steps": [
            checkout(),
            setup_python(),
            install_program(),
            write_kubeconfig(kubeconfig_secret(stack)),
            uses(
                "pulumi/actions",
                name="pulumi preview (policy pack on), commented on the PR",
                with_={
                    "command": "preview",
                    "stack-name": opts.qualified_stack(stack),
                    "pulumi-version": versions.PULUMI_CLI_VERSION,
                    "comment-on-pr": True,
                    "github-token": "${{ github.token }}",
                    "policyPacks": "policies",
                    "policyPackConfigs": f"policies/config/{stack}.json",
                },
                env={
                    "PULUMI_ACCESS_TOKEN": secret_ref("PULUMI_ACCESS_TOKEN"),
                    "KUBECONFIG": "${{ runner.temp }}/kubeconfig",
                },
            ),
        ],
    }
