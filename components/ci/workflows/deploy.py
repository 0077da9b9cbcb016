"""deploy-production.yml, deploy-staging.yml and rollback.yml.

A deploy runs on push to its branch (main -> ``production``, staging -> ``staging``), waits until the
ci-cd.yml run of the same commit has passed (``gh run watch --exit-status``: no ``workflow_run``
trigger, no write token), then deploys the image ``<image>:<commit sha>`` that run pushed, in
parallel jobs, one per target, each in the GitHub environment (required reviewers and branch policy
apply; one approval covers the parallel jobs) with only the secrets it needs:

- ``kubernetes``: dispatches the *platform* repository's ``platform.yml`` (``workflow_dispatch``:
  operation, stack, service, version, request id) and watches that run to its end. platform.yml is
  the one owner of ``pulumi up`` for every stack: it takes the stack's lock (a concurrency group in
  *its* repository), records the version in ``Pulumi.<stack>.yaml`` (``hardening:services.<service>.tag``,
  a bot commit), then runs ``pulumi up`` with the image read from that file. Every later preview and
  manual ``up`` reads the same record, so nothing rolls the service back by accident.
- ``railway`` / ``render`` / ``fly`` when the stack toggles them on, with GitHub environment secrets
  (never the cluster's Vault); Railway and Render are polled until the deployment is live or failed,
  within ``DEPLOY_TIMEOUT_SECONDS``.

One deployment per environment at a time: deploys and rollbacks share the concurrency group
``deploy-<environment>`` with ``queue: max`` (every pending run waits its turn; none is dropped) and
never cancel a running deployment.

rollback.yml is dispatched by hand with a ``version`` (a 40-hex commit SHA, i.e. an image tag CI
pushed). The input is validated in a step through ``env`` (never interpolated into a script), the image
must exist in the registry, and the run's branch picks the environment (main -> production,
staging -> staging; anything else fails); then every target returns to that image: Kubernetes through
platform.yml's ``rollback`` operation (Argo Rollouts abort to the stable ReplicaSet, the record set to
the version, ``pulumi up`` of the service's Rollout only), the PaaS targets as for a deploy. Rollbacks
read no secret from Vault: they work while the cluster, or its Vault, is the thing that is broken.
"""

from __future__ import annotations

from typing import Any

from components import versions
from components.ci.workflows.common import (
    ENVIRONMENT_BRANCH,
    PLATFORM_WORKFLOW,
    PRODUCTION,
    RUNNER,
    STAGING,
    WorkflowOptions,
    checkout,
    run,
    secret_ref,
    uses,
    with_secrets,
)

FILES = {PRODUCTION: "deploy-production.yml", STAGING: "deploy-staging.yml"}
ROLLBACK_FILE = "rollback.yml"
CI_WORKFLOW_FILE = "ci-cd.yml"
VERSION_PATTERN = "^[0-9a-f]{40}$"
RAILWAY_API = "https://backboard.railway.com/graphql/v2"
RENDER_API = "https://api.render.com/v1"
DEPLOY_TIMEOUT_SECONDS = 900  # Railway/Render: how long a deployment may take to become live
POLL_SECONDS = 10
OPERATIONS = ("deploy", "rollback")

_DISPATCH = f"""
set -euo pipefail
# One platform run per request: the id is in the run's name (platform.yml run-name), so this job finds
# and watches exactly the run it started, even when other deploys are queued behind the stack lock.
request="$GITHUB_REPOSITORY#$GITHUB_RUN_ID.$GITHUB_RUN_ATTEMPT"
gh workflow run "$PLATFORM_WORKFLOW" --repo "$PLATFORM_REPO" --ref main \\
  -f operation="$OPERATION" -f stack="$STACK" -f service="$SERVICE" -f version="$VERSION" -f request="$request"
run_id=""
for _ in $(seq 1 30); do
  run_id="$(gh run list --repo "$PLATFORM_REPO" --workflow "$PLATFORM_WORKFLOW" --event workflow_dispatch \\
    --limit 50 --json databaseId,displayTitle \\
    | jq -r --arg r "[$request]" '[.[] | select(.displayTitle | endswith($r))][0].databaseId // empty')"
  [ -n "$run_id" ] && break
  sleep "${{POLL_SECONDS:-10}}"
done
if [ -z "$run_id" ]; then
  echo "::error::the {PLATFORM_WORKFLOW} run for $request did not appear in $PLATFORM_REPO"
  exit 1
fi
echo "$OPERATION of $SERVICE $VERSION to $STACK: https://github.com/$PLATFORM_REPO/actions/runs/$run_id"
gh run watch "$run_id" --repo "$PLATFORM_REPO" --exit-status --interval 30 >/dev/null
echo "{PLATFORM_WORKFLOW} run $run_id succeeded"
"""

_WAIT_FOR_CI = f"""
set -euo pipefail
run_id=""
for _ in $(seq 1 30); do
  run_id="$(gh run list --workflow {CI_WORKFLOW_FILE} --commit "$SHA" --event push --limit 1 \\
    --json databaseId --jq '.[0].databaseId // empty')"
  [ -n "$run_id" ] && break
  sleep 10
done
if [ -z "$run_id" ]; then
  echo "::error::no {CI_WORKFLOW_FILE} run for $SHA after 5 minutes"
  exit 1
fi
gh run watch "$run_id" --exit-status --interval 20 >/dev/null
echo "{CI_WORKFLOW_FILE} run $run_id passed for $SHA"
"""

_RAILWAY = """
set -euo pipefail
api() {
  curl --fail-with-body --silent --show-error --retry 3 --max-time 60 \\
    -H "Project-Access-Token: $RAILWAY_TOKEN" -H 'Content-Type: application/json' \\
    --data "$1" "$RAILWAY_API"
}
environment_id="$(api '{"query":"query { projectToken { environmentId } }"}' \\
  | jq -er '.data.projectToken.environmentId')"
update_query='mutation($s: String!, $e: String, $i: String!) {
  serviceInstanceUpdate(serviceId: $s, environmentId: $e, input: {source: {image: $i}})
}'
deploy_query='mutation($s: String!, $e: String!) { serviceInstanceDeployV2(serviceId: $s, environmentId: $e) }'
update="$(jq -nc --arg q "$update_query" --arg s "$RAILWAY_SERVICE_ID" --arg e "$environment_id" --arg i "$IMAGE" \\
  '{query: $q, variables: {s: $s, e: $e, i: $i}}')"
api "$update" | jq -e '.data.serviceInstanceUpdate == true' >/dev/null
deploy="$(jq -nc --arg q "$deploy_query" --arg s "$RAILWAY_SERVICE_ID" --arg e "$environment_id" \\
  '{query: $q, variables: {s: $s, e: $e}}')"
deployment_id="$(api "$deploy" | jq -er '.data.serviceInstanceDeployV2')"
echo "Railway deployment $deployment_id started for $IMAGE"
status_query='query($d: String!) { deployment(id: $d) { status } }'
status_request="$(jq -nc --arg q "$status_query" --arg d "$deployment_id" '{query: $q, variables: {d: $d}}')"
deadline=$(( $(date +%s) + ${TIMEOUT_SECONDS:-900} ))
while :; do
  status="$(api "$status_request" | jq -er '.data.deployment.status')"
  case "$status" in
    SUCCESS) echo "Railway deployment $deployment_id is live"; exit 0 ;;
    FAILED|CRASHED|REMOVED|SKIPPED) echo "::error::Railway deployment $deployment_id ended $status"; exit 1 ;;
  esac
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "::error::Railway deployment $deployment_id still $status after ${TIMEOUT_SECONDS:-900} s"
    exit 1
  fi
  sleep "${POLL_SECONDS:-10}"
done
"""

_RENDER = """
set -euo pipefail
if ! [[ "$RENDER_SERVICE_ID" =~ ^srv-[a-z0-9]+$ ]]; then
  echo "::error::RENDER_SERVICE_ID is not a Render service id (srv-...)"
  exit 1
fi
api() {
  curl --fail-with-body --silent --show-error --retry 3 --max-time 60 \\
    -H "Authorization: Bearer $RENDER_API_KEY" -H 'Accept: application/json' "$@"
}
deploy_id="$(api -X POST -H 'Content-Type: application/json' --data "$(jq -nc --arg i "$IMAGE" '{imageUrl: $i}')" \\
  "$RENDER_API/services/$RENDER_SERVICE_ID/deploys" | jq -er '.id')"
if ! [[ "$deploy_id" =~ ^dep-[A-Za-z0-9]+$ ]]; then
  echo "::error::Render returned an unexpected deploy id"
  exit 1
fi
echo "Render deploy $deploy_id started for $IMAGE"
deadline=$(( $(date +%s) + ${TIMEOUT_SECONDS:-900} ))
while :; do
  status="$(api "$RENDER_API/services/$RENDER_SERVICE_ID/deploys/$deploy_id" | jq -er '.status')"
  case "$status" in
    live) echo "Render deploy $deploy_id is live"; exit 0 ;;
    build_failed|update_failed|pre_deploy_failed|canceled|deactivated)
      echo "::error::Render deploy $deploy_id ended $status"; exit 1 ;;
  esac
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "::error::Render deploy $deploy_id still $status after ${TIMEOUT_SECONDS:-900} s"
    exit 1
  fi
  sleep "${POLL_SECONDS:-10}"
done
"""

_FLY = """
set -euo pipefail
flyctl deploy --config fly.toml --image "$IMAGE"
"""


def _job(
    name: str, environment: str, needs: list[str], steps: list[dict[str, Any]], timeout: int = 20, checkout: bool = True
) -> dict[str, Any]:
    return {
        "name": name,
        "needs": needs,
        "runs-on": RUNNER,
        "timeout-minutes": timeout,
        "environment": environment,
        "permissions": {"contents": "read"} if checkout else {},
        "steps": steps,
    }


def deploy_jobs(
    opts: WorkflowOptions,
    *,
    environment: str,
    stack: str,
    tag: str,
    needs: list[str],
    operation: str = "deploy",
    vault_environment: str | None = None,
) -> dict[str, dict[str, Any]]:
    """One job per enabled target. ``environment``/``stack``/``tag`` may be expressions.
    ``vault_environment`` (a literal environment) lets the Kubernetes job read its token from Vault in
    Vault mode; None: GitHub environment secrets (rollbacks, whose environment is chosen at run time)."""
    if operation not in OPERATIONS:
        raise ValueError(f"operation {operation!r}: accepted: {', '.join(OPERATIONS)}")
    image = f"{opts.image}:{tag}"
    timeouts = {"TIMEOUT_SECONDS": str(DEPLOY_TIMEOUT_SECONDS), "POLL_SECONDS": str(POLL_SECONDS)}
    jobs: dict[str, dict[str, Any]] = {}
    kubernetes = _job(
        "kubernetes",
        environment,
        needs,
        [
            run(
                f"Dispatch {PLATFORM_WORKFLOW} ({operation}) in the platform repository and watch it",
                _DISPATCH,
                env={
                    "GH_TOKEN": secret_ref("PLATFORM_DISPATCH_TOKEN"),
                    "PLATFORM_REPO": opts.platform_repo,
                    "PLATFORM_WORKFLOW": PLATFORM_WORKFLOW,
                    "OPERATION": operation,
                    "STACK": stack,
                    "SERVICE": opts.service,
                    "VERSION": tag,
                },
            )
        ],
        timeout=60,
        checkout=False,
    )
    jobs["kubernetes"] = with_secrets(opts, kubernetes, vault_environment or "", vault=vault_environment is not None)
    if opts.deploy_railway:
        jobs["railway"] = with_secrets(
            opts,
            _job(
                "railway",
                environment,
                needs,
                [
                    run(
                        "Deploy the image to Railway and wait until it is live",
                        _RAILWAY,
                        env={
                            "RAILWAY_TOKEN": secret_ref("RAILWAY_TOKEN"),
                            "RAILWAY_SERVICE_ID": secret_ref("RAILWAY_SERVICE_ID"),
                            "RAILWAY_API": RAILWAY_API,
                            "IMAGE": image,
                            **timeouts,
                        },
                    ),
                ],
                checkout=False,
            ),
            environment,
            vault=False,
        )
    if opts.deploy_render:
        jobs["render"] = with_secrets(
            opts,
            _job(
                "render",
                environment,
                needs,
                [
                    run(
                        "Deploy the image to Render and wait until it is live",
                        _RENDER,
                        env={
                            "RENDER_API_KEY": secret_ref("RENDER_API_KEY"),
                            "RENDER_SERVICE_ID": secret_ref("RENDER_SERVICE_ID"),
                            "RENDER_API": RENDER_API,
                            "IMAGE": image,
                            **timeouts,
                        },
                    ),
                ],
                checkout=False,
            ),
            environment,
            vault=False,
        )
    if opts.deploy_fly:
        jobs["fly"] = with_secrets(
            opts,
            _job(
                "fly",
                environment,
                needs,
                [
                    checkout(),
                    uses(
                        "superfly/flyctl-actions/setup-flyctl",
                        name="Install flyctl",
                        with_={"version": versions.FLYCTL_VERSION},
                    ),
                    run(
                        "Deploy the image to Fly.io",
                        _FLY,
                        env={
                            "FLY_API_TOKEN": secret_ref("FLY_API_TOKEN"),
                            "IMAGE": image,
                        },
                    ),
                ],
            ),
            environment,
            vault=False,
        )
    return jobs


def concurrency(group: str) -> dict[str, Any]:
    """One deployment per environment; every pending run is queued (``queue: max``), none cancelled."""
    return {"group": group, "cancel-in-progress": False, "queue": "max"}


def deploy(opts: WorkflowOptions, environment: str) -> dict[str, Any]:
    """deploy-production.yml (``environment="production"``) or deploy-staging.yml."""
    if environment not in ENVIRONMENT_BRANCH:
        raise ValueError(f"environment {environment!r}: accepted: {', '.join(ENVIRONMENT_BRANCH)}")
    branch = ENVIRONMENT_BRANCH[environment]
    wait = {
        "name": "ci passed",
        "runs-on": RUNNER,
        "timeout-minutes": 40,
        "permissions": {"actions": "read"},
        "steps": [
            run(
                f"Wait for {CI_WORKFLOW_FILE} on this commit",
                _WAIT_FOR_CI,
                env={
                    "GH_TOKEN": "${{ github.token }}",
                    "GH_REPO": "${{ github.repository }}",
                    "SHA": "${{ github.sha }}",
                },
            )
        ],
    }
    return {
        "name": f"deploy-{environment}",
        "on": {"push": {"branches": [branch]}},
        "permissions": {},
        "concurrency": concurrency(f"deploy-{environment}"),
        "jobs": {
            "ci": wait,
            **deploy_jobs(
                opts,
                environment=environment,
                stack=opts.stack_for(environment),
                tag="${{ github.sha }}",
                needs=["ci"],
                vault_environment=environment,
            ),
        },
    }


_VALIDATE = f"""
set -euo pipefail
# [[ =~ ]] matches the whole value (grep would accept one good line of a multi-line input).
if ! [[ "$VERSION" =~ {VERSION_PATTERN} ]]; then
  echo "::error::version must be a full 40-character lower-case commit SHA (an image tag CI pushed)"
  exit 1
fi
case "$REF" in
  refs/heads/{ENVIRONMENT_BRANCH[PRODUCTION]}) environment={PRODUCTION}; stack="$PRODUCTION_STACK" ;;
  refs/heads/{ENVIRONMENT_BRANCH[STAGING]}) environment={STAGING}; stack="$STAGING_STACK" ;;
  *) echo "::error::run the rollback from {ENVIRONMENT_BRANCH[PRODUCTION]} (production) or \
{ENVIRONMENT_BRANCH[STAGING]} (staging)"; exit 1 ;;
esac
{{
  echo "version=$VERSION"
  echo "environment=$environment"
  echo "stack=$stack"
}} >> "$GITHUB_OUTPUT"
"""

_IMAGE_EXISTS = """
set -euo pipefail
if ! docker manifest inspect "$IMAGE:$VERSION" >/dev/null; then
  echo "::error::$IMAGE:$VERSION is not in the registry; roll back to a commit CI built and pushed"
  exit 1
fi
"""


def rollback(opts: WorkflowOptions) -> dict[str, Any]:
    validate = {
        "name": "validate",
        "runs-on": RUNNER,
        "timeout-minutes": 5,
        "permissions": {"packages": "read"},
        "outputs": {
            "version": "${{ steps.input.outputs.version }}",
            "environment": "${{ steps.input.outputs.environment }}",
            "stack": "${{ steps.input.outputs.stack }}",
        },
        "steps": [
            run(
                "Validate the version and pick the environment from the branch",
                _VALIDATE,
                id="input",
                env={
                    "VERSION": "${{ inputs.version }}",
                    "REF": "${{ github.ref }}",
                    "PRODUCTION_STACK": opts.production_stack,
                    "STAGING_STACK": opts.staging_stack,
                },
            ),
            uses(
                "docker/login-action",
                name="Log in to ghcr.io (read)",
                with_={
                    "registry": "ghcr.io",
                    "username": "${{ github.actor }}",
                    "password": "${{ github.token }}",
                },
            ),
            run(
                "Check that the image exists",
                _IMAGE_EXISTS,
                env={
                    "IMAGE": opts.image,
                    "VERSION": "${{ steps.input.outputs.version }}",
                },
            ),
        ],
    }
    env = "${{ needs.validate.outputs.environment }}"
    return {
        "name": "rollback",
        "on": {
            "workflow_dispatch": {
                "inputs": {
                    "version": {
                        "description": "Commit SHA (40 hex characters) whose image to redeploy; run from main for "
                        "production, from staging for staging",
                        "required": True,
                        "type": "string",
                    }
                }
            }
        },
        "permissions": {},
        "concurrency": concurrency(
            f"deploy-${{{{ github.ref_name == '{ENVIRONMENT_BRANCH[STAGING]}' && '{STAGING}' || '{PRODUCTION}' }}}}"
        ),
        "jobs": {
            "validate": validate,
            **deploy_jobs(
                opts,
                environment=env,
                stack="${{ needs.validate.outputs.stack }}",
                tag="${{ needs.validate.outputs.version }}",
                needs=["validate"],
                operation="rollback",
            ),
        },
    }
