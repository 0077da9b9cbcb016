"""CI for any language (#16.6): ``WorkflowOptions.for_service`` from the services' real definitions.

The workflows build the service's own Dockerfile and context, run the test command it declares with the
toolchain of its language (pinned by SHA), and a non-Python service gets no Python step anywhere.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from components import versions
from components.ci.workflows import WorkflowOptions, build_workflows, required_checks
from components.config import load_settings
from components.service.load import ServiceError, load_services
from components.service.spec import ServiceSpec
from tests.ci.helpers import all_steps, step_named, steps_using

SPECS = {s.name: s for s in load_services({"orders-api": {}, "go-deployment-demo": {}})}
CI = load_settings({}).ci
SETUP = {
    "python": "actions/setup-python",
    "go": "actions/setup-go",
    "node": "actions/setup-node",
    "java": "actions/setup-java",
}


def with_repo(spec: ServiceSpec, **changes: object) -> ServiceSpec:
    """The spec with its repository changed; the image follows the repository owner (GITHUB_TOKEN pushes)."""
    repo = dataclasses.replace(spec.repository, **changes)  # type: ignore[arg-type]
    container = dataclasses.replace(spec.container, image=f"ghcr.io/{repo.owner}/{repo.name}:1.0.0")
    return dataclasses.replace(spec, repository=repo, container=container)


def go_spec() -> ServiceSpec:
    return with_repo(SPECS["go-deployment-demo"])


def test_orders_api_builds_its_dockerfile_and_runs_its_tests_on_python() -> None:
    opts = WorkflowOptions.for_service(SPECS["orders-api"], CI)
    assert (opts.service, opts.full_repository, opts.image) == (
        "orders-api",
        "example-org/orders-api",
        "ghcr.io/example-org/orders-api",
    )
    jobs = build_workflows(opts)["ci-cd.yml"]["jobs"]
    (build,) = steps_using(jobs["image"], "docker/build-push-action")
    assert build["with"]["file"] == "app/Dockerfile" and build["with"]["context"] == "app"
    (setup,) = steps_using(jobs["test"], "actions/setup-python")
    assert setup["with"] == {"python-version": "3.12"}  # platform.yaml languageVersion
    assert step_named(jobs["test"], "Test")["run"] == "python -m pytest -q tests/app"
    assert required_checks(opts) == ("test", "image", "config-scan")


@pytest.mark.parametrize("language", ["go", "node", "java", "other"])
def test_a_non_python_service_gets_its_toolchain_and_no_python_step(language: str) -> None:
    commands = {"go": "go test ./...", "node": "npm test", "java": "./mvnw -B verify", "other": "make test"}
    spec = with_repo(go_spec(), language=language, language_version="", test_command=commands[language])
    opts = WorkflowOptions.for_service(spec, CI)
    docs = build_workflows(opts)
    assert "preview.yml" not in docs  # the platform program is not in this repository: no render, no setup-python
    text = yaml.safe_dump(docs)
    assert "setup-python" not in text and "pip install" not in text and "python " not in text
    test = docs["ci-cd.yml"]["jobs"]["test"]
    assert step_named(test, "Test")["run"] == commands[language]
    if language == "other":
        assert not [s for s in test["steps"] if "setup-" in str(s.get("uses", ""))]
    else:
        (setup,) = steps_using(test, SETUP[language])
        assert setup["uses"] == versions.action(SETUP[language])
        assert versions.TOOLCHAIN_DEFAULTS[language] in setup["with"].values()
    (build,) = steps_using(docs["ci-cd.yml"]["jobs"]["image"], "docker/build-push-action")
    assert build["with"]["file"] == "Dockerfile" and build["with"]["context"] == "."
    assert build["with"]["tags"] == "ghcr.io/example-org/go-deployment-demo:${{ github.sha }}"


def test_go_service_uses_its_declared_go_version_without_cache() -> None:
    docs = build_workflows(WorkflowOptions.for_service(go_spec(), CI))
    (setup,) = steps_using(docs["ci-cd.yml"]["jobs"]["test"], "actions/setup-go")
    assert setup["with"] == {"go-version": "1.24", "cache": False}
    assert "go mod download" in step_named(docs["ci-cd.yml"]["jobs"]["test"], "Install the go")["run"]
    for name, doc in docs.items():  # the deploys dispatch the platform workflow for this service
        for _job, step in all_steps(doc):
            if "SERVICE" in step.get("env", {}):
                assert step["env"]["SERVICE"] == "go-deployment-demo", name


def test_no_test_command_means_no_test_job() -> None:
    opts = WorkflowOptions.for_service(with_repo(go_spec(), test_command=""), CI)
    assert required_checks(opts) == ("image", "config-scan")


def test_the_platform_repository_itself_gets_the_preview() -> None:
    spec = with_repo(SPECS["orders-api"], owner="example-org", name="hardening")
    opts = WorkflowOptions.for_service(spec, CI)
    assert opts.hosts_program and "preview.yml" in build_workflows(opts)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (
            {"language": "cobol"},
            "services/go-deployment-demo/platform.yaml: repository: language: 'cobol' is invalid; "
            "accepted: python, go, node, java, other",
        ),
        ({"dockerfile": "../etc/Dockerfile"}, "dockerfile: '../etc/Dockerfile' is invalid"),
        ({"context": "/abs"}, "context: '/abs' is invalid"),
        ({"test_command": "echo ${{ github.event.issue.title }}"}, "test_command:"),
        ({"language_version": "1.24; rm -rf /"}, "language_version: '1.24; rm -rf /' is invalid"),
    ],
)
def test_bad_repository_fields_are_named(change: dict[str, str], fragment: str) -> None:
    with pytest.raises(ServiceError) as info:
        WorkflowOptions.for_service(with_repo(go_spec(), **change), CI)
    assert fragment in str(info.value) and "services/go-deployment-demo/platform.yaml: repository: " in str(info.value)


def test_an_image_another_owner_holds_is_refused_with_the_file_named() -> None:
    """GITHUB_TOKEN of wo1ves/go-deployment-demo cannot push ghcr.io/example-org/...: say so up front."""
    spec = SPECS["go-deployment-demo"]
    elsewhere = dataclasses.replace(spec, repository=dataclasses.replace(spec.repository, owner="wo1ves"))
    with pytest.raises(ServiceError) as info:
        WorkflowOptions.for_service(elsewhere, CI)
    msg = str(info.value)
    assert "services/go-deployment-demo/score.yaml: containers.*.image" in msg and "outside ghcr.io/wo1ves/" in msg
    docker = dataclasses.replace(spec, container=dataclasses.replace(spec.container, image="docker.io/x/y:1"))
    with pytest.raises(ServiceError, match=r"score\.yaml: containers\.\*\.image: 'docker.io/x/y:1' is not on ghcr.io"):
        WorkflowOptions.for_service(docker, CI)


def test_build_time_reaches_the_job_summary(tmp_path: Path) -> None:
    """Run the real summary script: the table with the three figures, and a warning over budget."""
    job = build_workflows(WorkflowOptions.for_service(SPECS["orders-api"], CI))["ci-cd.yml"]["jobs"]["image"]
    step = step_named(job, "Build time to the job summary")
    assert step["if"] == "${{ !cancelled() }}" and job["steps"][-1] is step
    assert step_named(job, "Start the clock")["id"] == "start" and job["steps"][0]["id"] == "start"

    def summary(start: int, built: int, scanned: int) -> tuple[str, str]:
        out = tmp_path / f"summary-{start}"
        env = {
            "PATH": os.environ["PATH"],
            "GITHUB_STEP_SUMMARY": str(out),
            "IMAGE": "ghcr.io/example-org/orders-api:abc",
            "START": str(start),
            "BUILT": str(built),
            "SCANNED": str(scanned),
        }
        proc = subprocess.run(["bash", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        return out.read_text(), proc.stdout

    now = int(time.time())
    text, stdout = summary(now - 100, now - 60, now - 20)
    assert "| checkout + Buildx + image build | 40 |" in text and "| Trivy image scan | 40 |" in text
    assert "| image job total (the critical path) |" in text and "::warning::" not in stdout
    _text, stdout = summary(now - 400, now - 100, now - 50)
    assert "::warning::the image job took" in stdout and "300 s budget" in stdout
