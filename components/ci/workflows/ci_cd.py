"""ci-cd.yml: test the service, build its image, gate it on Trivy, push it, scan the repository's config.

Jobs (their ``name`` is the check name the main-branch ruleset requires):
- ``lint`` (python services that declare lint commands, e.g. the orders API's ruff/mypy) and ``test``:
  the toolchain of the service's language (setup-python / setup-go / setup-node / setup-java, pinned by
  SHA; ``other``: none), the dependency install of that ecosystem, then the service's own test command.
  A non-Python service gets no Python step. No ``test`` job when the service declares no test command.
- ``image``: Buildx build of the service's Dockerfile and context into the runner's Docker (GitHub
  Actions layer cache), Trivy image scan that fails the job on *fixable* CRITICAL/HIGH
  (``exit-code: 1``, ``ignore-unfixed: true``; accepted risks in ``.trivyignore.yaml``, each with an
  expiry and a reason), SARIF upload even when the scan fails, then (pushes only) ``docker push`` of
  exactly the scanned image with the immutable commit-SHA tag to ghcr.io. The job writes its build and
  scan times to the job summary (the roadmap's 5-minute budget, see docs/CI_GUIDE.md).
  Cache poisoning is closed by design: only pushes to main/staging write the layer cache (``cache-to``
  is empty on pull requests, whose cache scope the publishing runs never read), no setup-* cache runs in
  this job, and Trivy's own DB cache is off here.
- ``config-scan``: Trivy misconfiguration scan (Dockerfile, Kubernetes YAML, IaC) of the repository,
  same gate and SARIF upload.
"""

from __future__ import annotations

from typing import Any

from components import versions
from components.ci.workflows.common import RUNNER, WorkflowOptions, checkout, run, setup_toolchain, uses

FILE = "ci-cd.yml"
SEVERITY = "CRITICAL,HIGH"
IMAGE_SARIF = "trivy-image.sarif"
CONFIG_SARIF = "trivy-config.sarif"
# SARIF uploads run when the scan step failed too, but not for fork PRs (their token cannot write).
UPLOAD_IF = (
    "${{ !cancelled() && hashFiles('%s') != '' && (github.event_name == 'push' || "
    "github.event.pull_request.head.repo.full_name == github.repository) }}"
)
ON_PUSH = "github.event_name == 'push'"
TRIVY_IGNORE_FILE = ".trivyignore.yaml"
# Only when the repository has one: trivy-action fails on an ignore file that does not exist.
TRIVY_IGNORES = f"${{{{ hashFiles('{TRIVY_IGNORE_FILE}') != '' && '{TRIVY_IGNORE_FILE}' || '' }}}}"
BUILD_BUDGET_SECONDS = 300  # the roadmap: a build (test + image + scan) under 5 minutes

# The dependency install of each ecosystem, from the files the repository has (empty: nothing to do).
_INSTALL = {
    "python": """
set -euo pipefail
python -m pip install --disable-pip-version-check --upgrade pip >/dev/null
for f in requirements-dev.txt requirements.txt; do
  if [ -f "$f" ]; then python -m pip install --disable-pip-version-check -r "$f"; break; fi
done
""",
    "go": """
set -euo pipefail
if [ -f go.mod ]; then go mod download; fi
""",
    "node": """
set -euo pipefail
if [ -f package-lock.json ]; then
  npm ci --ignore-scripts
elif [ -f package.json ]; then
  npm install --ignore-scripts
fi
""",
}

_CLOCK = """
set -euo pipefail
echo "at=$(date +%s)" >> "$GITHUB_OUTPUT"
"""

_BUILD_SUMMARY = f"""
set -euo pipefail
now="$(date +%s)"
build=$(( ${{BUILT:-$now}} - START ))
scan=$(( ${{SCANNED:-$now}} - ${{BUILT:-$now}} ))
total=$(( now - START ))
{{
  echo "### Build time ($IMAGE)"
  echo
  echo "| step | seconds |"
  echo "| --- | ---: |"
  echo "| checkout + Buildx + image build | $build |"
  echo "| Trivy image scan | $scan |"
  echo "| image job total (the critical path) | $total |"
  echo
  echo "Budget: {BUILD_BUDGET_SECONDS} s (docs/CI_GUIDE.md, Build time)."
}} >> "$GITHUB_STEP_SUMMARY"
if [ "$total" -gt {BUILD_BUDGET_SECONDS} ]; then
  echo "::warning::the image job took $total s, over the {BUILD_BUDGET_SECONDS} s budget"
fi
"""


def trivy(name: str, *, with_: dict[str, Any]) -> dict[str, Any]:
    """A Trivy step that fails the job on CRITICAL/HIGH and writes SARIF limited to those severities."""
    return uses(
        "aquasecurity/trivy-action",
        name=name,
        with_={
            **with_,
            "version": versions.TRIVY_VERSION,
            "exit-code": "1",
            "severity": SEVERITY,
            # A finding without a fixed version cannot be fixed by a rebuild: it is reported in code
            # scanning, not a gate that blocks every merge; accepted risks live in .trivyignore.yaml.
            "ignore-unfixed": True,
            "trivyignores": TRIVY_IGNORES,
            "format": "sarif",
            "limit-severities-for-sarif": True,
        },
    )


def upload_sarif(sarif: str, category: str) -> dict[str, Any]:
    return uses(
        "github/codeql-action/upload-sarif",
        name=f"Upload {category} results to code scanning",
        if_=UPLOAD_IF % sarif,
        with_={"sarif_file": sarif, "category": category},
    )


def _test_jobs(opts: WorkflowOptions) -> dict[str, dict[str, Any]]:
    """``lint`` and ``test`` with the service's toolchain; none for a language/command that is not set."""
    jobs: dict[str, dict[str, Any]] = {}
    toolchain = setup_toolchain(opts)
    install = (
        [run(f"Install the {opts.language} dependencies", _INSTALL[opts.language])] if opts.language in _INSTALL else []
    )
    if opts.lint_commands:
        jobs["lint"] = {
            "name": "lint",
            "runs-on": RUNNER,
            "timeout-minutes": 10,
            "permissions": {"contents": "read"},
            "steps": [checkout(), *toolchain, *install, *(run(c.split()[0], c) for c in opts.lint_commands)],
        }
    if opts.test_command:
        jobs["test"] = {
            "name": "test",
            "runs-on": RUNNER,
            "timeout-minutes": 15,
            "permissions": {"contents": "read"},
            "steps": [
                checkout(),
                *toolchain,
                *install,
                # The command comes from the service definition (platform.yaml repository.testCommand),
                # written as the script itself: it is the service owner's own code, like a Makefile target.
                run("Test (the service's test command)", opts.test_command),
            ],
        }
    return jobs


def ci_cd(opts: WorkflowOptions) -> dict[str, Any]:
    image_tag = f"{opts.image}:${{{{ github.sha }}}}"
    cache_scope = opts.image.rsplit("/", 1)[-1]
    build_common = {
        "context": opts.build_context,
        "file": opts.build_file,
        "tags": image_tag,
        "build-args": "APP_VERSION=${{ github.sha }}\nAPP_COMMIT=${{ github.sha }}\n",
        "cache-from": f"type=gha,scope={cache_scope}",
    }
    image = {
        "name": "image",
        "runs-on": RUNNER,
        "timeout-minutes": 20,
        "permissions": {"contents": "read", "packages": "write", "security-events": "write"},
        "outputs": {"image": image_tag},
        "steps": [
            run("Start the clock", _CLOCK, id="start"),
            checkout(),
            uses("docker/setup-buildx-action", name="Set up Buildx"),
            uses(
                "docker/build-push-action",
                name="Build the image (GitHub Actions layer cache)",
                with_={
                    **build_common,
                    "load": True,
                    "push": False,
                    # Only trusted pushes write the cache the publishing runs read.
                    "cache-to": f"${{{{ {ON_PUSH} && 'type=gha,mode=max,scope={cache_scope}' || '' }}}}",
                },
            ),
            run("Build finished", _CLOCK, id="built"),
            trivy(
                "Scan the image (fails on CRITICAL/HIGH)",
                with_={
                    "scan-type": "image",
                    "image-ref": image_tag,
                    "output": IMAGE_SARIF,
                    "cache": False,
                },
            ),
            run("Scan finished", _CLOCK, id="scanned", if_="${{ !cancelled() }}"),
            upload_sarif(IMAGE_SARIF, "trivy-image"),
            uses(
                "docker/login-action",
                name="Log in to ghcr.io",
                if_=ON_PUSH,
                with_={
                    "registry": "ghcr.io",
                    "username": "${{ github.actor }}",
                    "password": "${{ github.token }}",
                },
            ),
            run(
                "Push the scanned image (immutable commit-SHA tag)",
                """
set -euo pipefail
if docker manifest inspect "$IMAGE" >/dev/null 2>&1; then
  echo "::notice::$IMAGE was pushed by an earlier run of this commit; tags are immutable, keeping it"
  exit 0
fi
docker push "$IMAGE"
""",
                if_=ON_PUSH,
                env={"IMAGE": image_tag},
            ),
            run(
                "Build time to the job summary",
                _BUILD_SUMMARY,
                if_="${{ !cancelled() }}",
                env={
                    "IMAGE": image_tag,
                    "START": "${{ steps.start.outputs.at }}",
                    "BUILT": "${{ steps.built.outputs.at }}",
                    "SCANNED": "${{ steps.scanned.outputs.at }}",
                },
            ),
        ],
    }
    config_scan = {
        "name": "config-scan",
        "runs-on": RUNNER,
        "timeout-minutes": 10,
        "permissions": {"contents": "read", "security-events": "write"},
        "steps": [
            checkout(),
            trivy(
                "Scan the repository's configuration and IaC (fails on CRITICAL/HIGH)",
                with_={
                    "scan-type": "config",
                    "scan-ref": ".",
                    "output": CONFIG_SARIF,
                },
            ),
            upload_sarif(CONFIG_SARIF, "trivy-config"),
        ],
    }
    return {
        "name": "ci-cd",
        "on": {
            "push": {"branches": ["main", "staging"]},
            "pull_request": {"branches": ["main", "staging"]},
        },
        "permissions": {},
        "concurrency": {
            "group": "ci-cd-${{ github.ref }}",
            "cancel-in-progress": "${{ github.event_name == 'pull_request' }}",
        },
        "jobs": {**_test_jobs(opts), "image": image, "config-scan": config_scan},
    }


def check_names(doc: dict[str, Any]) -> tuple[str, ...]:
    """The check-run names a workflow's jobs report (the job ``name``, else its id)."""
    return tuple(str(job.get("name", job_id)) for job_id, job in doc["jobs"].items())
