"""deploy-production.yml, deploy-staging.yml and rollback.yml.

A deploy runs on push to its branch (main -> ``production``, staging -> ``staging``), waits until the
ci-cd.yml run of the same commit has passed (``gh run watch --exit-status``: no ``workflow_run``
trigger, no write token), then deploys the image ``<image>:<commit sha>`` that run pushed, in
parallel jobs, one per target, each in the GitHub environment (required reviewers and branch policy
apply; one approval covers the parallel jobs) with only the secrets it needs:

- ``kubernetes``: ``pulumi up -s <stack>`` with the policy pack and ``appImage`` set to the new tag;
- ``railway`` / ``render`` / ``fly`` when the stack toggles them on.

One deployment per environment at a time: deploys and rollbacks share the concurrency group
``deploy-<environment>`` and never cancel a running deployment.

rollback.yml is dispatched by hand with a ``version`` (a 40-hex commit SHA, i.e. an image tag CI
pushed). The input is validated in a step through ``env`` (never interpolated into a script), the image
must exist in the registry, and the run's branch picks the environment (main -> production,
staging -> staging; anything else fails); then the same deploy jobs run with that tag.
"""

from __future__ import annotations

from typing import Any

from components import versions
from components.ci.workflows.common import (
    ENVIRONMENT_BRANCH,
    PRODUCTION,
    RUNNER,
    STAGING,
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

FILES = {PRODUCTION: "deploy-production.yml", STAGING: "deploy-staging.yml"}
ROLLBACK_FILE = "rollback.yml"
CI_WORKFLOW_FILE = "ci-cd.yml"
VERSION_PATTERN = "^[0-9a-f]{40}$"
RAILWAY_API = "https://backboard.railway.com/graphql/v2"
RENDER_API = "https://api.render.com/v1"

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
"""

_RENDER = """
set -euo pipefail
if ! [[ "$RENDER_SERVICE_ID" =~ ^srv-[a-z0-9]+$ ]]; then
  echo "::error::RENDER_SERVICE_ID is not a Render service id (srv-...)"
  exit 1
fi
deploy_id="$(curl --fail-with-body --silent --show-error --retry 3 --max-time 60 -X POST \\
  -H "Authorization: Bearer $RENDER_API_KEY" -H 'Accept: application/json' -H 'Content-Type: application/json' \\
  --data "$(jq -nc --arg i "$IMAGE" '{imageUrl: $i}')" \\
  "$RENDER_API/services/$RENDER_SERVICE_ID/deploys" | jq -er '.id')"
echo "Render deploy $deploy_id started for $IMAGE"
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
    opts: WorkflowOptions, *, environment: str, stack: str, tag: str, needs: list[str]
) -> dict[str, dict[str, Any]]:
    """One job per enabled target. ``environment``/``stack``/``tag`` may be expressions."""
    image = f"{opts.image}:{tag}"
    jobs: dict[str, dict[str, Any]] = {}
    config_map = '{"appImage": {"value": "%s", "secret": false}}' % image  # noqa: UP031 - braces
    kubernetes = _job(
        "kubernetes",
        environment,
        needs,
        [
            checkout(),
            setup_python(),
            install_program(),
            write_kubeconfig(),
            uses(
                "pulumi/actions",
                name="pulumi up (policy pack on, appImage = the new tag)",
                with_={
                    "command": "up",
                    "stack-name": stack,
                    "pulumi-version": versions.PULUMI_CLI_VERSION,
                    "config-map": config_map,
                    "policyPacks": "policies",
                    "policyPackConfigs": f"policies/config/{stack}.json",
                },
                env={
                    "PULUMI_ACCESS_TOKEN": secret_ref("PULUMI_ACCESS_TOKEN"),
                    "KUBECONFIG": "${{ runner.temp }}/kubeconfig",
                },
            ),
        ],
        timeout=45,
    )
    jobs["kubernetes"] = with_secrets(opts, kubernetes, environment, after=1)
    if opts.deploy_railway:
        jobs["railway"] = with_secrets(
            opts,
            _job(
                "railway",
                environment,
                needs,
                [
                    run(
                        "Deploy the image to Railway",
                        _RAILWAY,
                        env={
                            "RAILWAY_TOKEN": secret_ref("RAILWAY_TOKEN"),
                            "RAILWAY_SERVICE_ID": secret_ref("RAILWAY_SERVICE_ID"),
                            "RAILWAY_API": RAILWAY_API,
                            "IMAGE": image,
                        },
                    ),
                ],
                checkout=False,
            ),
            environment,
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
                        "Deploy the image to Render",
                        _RENDER,
                        env={
                            "RENDER_API_KEY": secret_ref("RENDER_API_KEY"),
                            "RENDER_SERVICE_ID": secret_ref("RENDER_SERVICE_ID"),
                            "RENDER_API": RENDER_API,
                            "IMAGE": image,
                        },
                    ),
                ],
                checkout=False,
            ),
            environment,
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
            after=1,
        )
    return jobs


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
        "concurrency": {"group": f"deploy-{environment}", "cancel-in-progress": False},
        "jobs": {
            "ci": wait,
            **deploy_jobs(
                opts, environment=environment, stack=opts.stack_for(environment), tag="${{ github.sha }}", needs=["ci"]
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
        "concurrency": {
            "group": f"deploy-${{{{ github.ref_name == '{ENVIRONMENT_BRANCH[STAGING]}' && '{STAGING}' || "
            f"'{PRODUCTION}' }}}}",
            "cancel-in-progress": False,
        },
        "jobs": {
            "validate": validate,
            **deploy_jobs(
                opts,
                environment=env,
                stack="${{ needs.validate.outputs.stack }}",
                tag="${{ needs.validate.outputs.version }}",
                needs=["validate"],
            ),
        },
    }
