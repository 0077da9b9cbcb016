"""ci-cd.yml: lint and test app/, build the image, gate it on Trivy, push it, scan the repository's config.

Jobs (their ``name`` is the check name the main-branch ruleset requires):
- ``lint``, ``test``: ruff/mypy and pytest for app/ (pip cache: these jobs publish nothing).
- ``image``: Buildx build into the runner's Docker (GitHub Actions layer cache), Trivy image scan that
  fails the job on CRITICAL/HIGH (``exit-code: 1``), SARIF upload even when the scan fails, then (pushes
  only) ``docker push`` of exactly the scanned image with the immutable commit-SHA tag to ghcr.io.
  Cache poisoning is closed by design: only pushes to main/staging write the layer cache (``cache-to``
  is empty on pull requests, whose cache scope the publishing runs never read), no setup-* cache runs in
  this job, and Trivy's own DB cache is off here.
- ``config-scan``: Trivy misconfiguration scan (Dockerfile, Kubernetes YAML, IaC) of the repository,
  same gate and SARIF upload.
"""

from __future__ import annotations

from typing import Any

from components import versions
from components.ci.workflows.common import RUNNER, WorkflowOptions, checkout, run, setup_python, uses

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


def _install_dev() -> dict[str, Any]:
    return run("Install the pinned tools", "python -m pip install --disable-pip-version-check -r requirements-dev.txt")


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


def ci_cd(opts: WorkflowOptions) -> dict[str, Any]:
    app = opts.app_dir
    image_tag = f"{opts.image}:${{{{ github.sha }}}}"
    cache_scope = opts.image.rsplit("/", 1)[-1]
    lint = {
        "name": "lint",
        "runs-on": RUNNER,
        "timeout-minutes": 10,
        "permissions": {"contents": "read"},
        "steps": [
            checkout(),
            setup_python(cache=True),
            _install_dev(),
            run("ruff", f"ruff check {app} tests/{app}"),
            run("mypy", f"mypy {app}/orders_api"),
        ],
    }
    test = {
        "name": "test",
        "runs-on": RUNNER,
        "timeout-minutes": 15,
        "permissions": {"contents": "read"},
        "steps": [
            checkout(),
            setup_python(cache=True),
            _install_dev(),
            run("pytest", f"python -m pytest -q tests/{app}"),
        ],
    }
    build_common = {
        "context": app,
        "file": f"{app}/Dockerfile",
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
            trivy(
                "Scan the image (fails on CRITICAL/HIGH)",
                with_={
                    "scan-type": "image",
                    "image-ref": image_tag,
                    "output": IMAGE_SARIF,
                    "cache": False,
                },
            ),
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
        "jobs": {"lint": lint, "test": test, "image": image, "config-scan": config_scan},
    }


def check_names(doc: dict[str, Any]) -> tuple[str, ...]:
    """The check-run names a workflow's jobs report (the job ``name``, else its id)."""
    return tuple(str(job.get("name", job_id)) for job_id, job in doc["jobs"].items())
