"""The generated workflows through the real validators: zizmor (offline) and GitHub's workflow schema.

Two sources: the prod render (``dist/prod/workflows/``, what ``pulumi up`` commits) and the builders
directly with every deploy/Vault toggle combination (16 sets of 5 workflows). zizmor must report no
finding; the builder matrix is held to the ``pedantic`` persona (a superset of the default audits).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from components.ci.workflows import WorkflowOptions, render_workflows
from tests.ci.helpers import combinations, options
from tools.mockrun import run_stack
from tools.render import render_run, write_atomically

pytestmark = pytest.mark.tools
BIN = Path(sys.executable).parent


def zizmor(paths: list[Path], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--no-progress", *extra, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=600,
    )


def schema(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def matrix_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("workflow-matrix")
    files = []
    for label, opts in combinations():
        # zizmor audits workflows found under .github/workflows (and explicit files); keep the real layout.
        d = root / label / ".github" / "workflows"
        d.mkdir(parents=True)
        for name, text in render_workflows(opts).items():
            (d / name).write_text(text)
            files.append(d / name)
    return files


LANGUAGES = {
    "python": "python -m pytest -q",
    "go": "go test ./...",
    "node": "npm test",
    "java": "./mvnw -B verify",
    "other": "make test",
}


@pytest.fixture(scope="module")
def service_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A service repository per language (as WorkflowOptions.for_service builds it), Vault on and off."""
    root = tmp_path_factory.mktemp("service-matrix")
    files = []
    for language, command in LANGUAGES.items():
        for vault in (False, True):
            opts: WorkflowOptions = options(
                repository=f"svc-{language}",
                image=f"ghcr.io/example-org/svc-{language}",
                service=f"svc-{language}",
                dockerfile="Dockerfile",
                context=".",
                language=language,
                test_command=command,
                lint_commands=(),
                hosts_program=False,
                deploy_railway=vault,
                deploy_render=vault,
                vault_secrets=vault,
                vault_address="https://vault.example.com" if vault else "",
            )
            d = root / f"{language}-{vault}" / ".github" / "workflows"
            d.mkdir(parents=True)
            for name, text in render_workflows(opts).items():
                (d / name).write_text(text)
                files.append(d / name)
    return files


def test_every_language_passes_zizmor_pedantic_and_the_schema(service_files: list[Path]) -> None:
    assert len(service_files) == len(LANGUAGES) * 2 * 4  # no preview.yml outside the platform repository
    proc = zizmor(service_files, "--persona", "pedantic")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "No findings to report" in out and "suppressed" not in out, out
    proc = schema(service_files)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def rendered_workflows(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The prod render's workflow files, written the way ``python -m tools.render`` writes them.
    (The render's policy and cost steps are left out: they judge other components, not these files.)"""
    out_dir = tmp_path_factory.mktemp("render") / "prod"
    write_atomically(out_dir, render_run(run_stack("prod")).files)
    files = sorted((out_dir / "workflows").rglob("*.yml"))
    # every service repository's workflows (none of them holds the platform program: no preview.yml)
    assert {f.name for f in files} == {"ci-cd.yml", "deploy-production.yml", "deploy-staging.yml", "rollback.yml"}
    assert {f.parent.parent.parent.name for f in files} == {"orders-api", "go-deployment-demo"}
    return files


def test_rendered_prod_workflows_pass_zizmor(rendered_workflows: list[Path]) -> None:
    proc = zizmor(rendered_workflows)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr


def test_rendered_prod_workflows_match_githubs_schema(rendered_workflows: list[Path]) -> None:
    proc = schema(rendered_workflows)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_toggle_combination_passes_zizmor_pedantic(matrix_files: list[Path]) -> None:
    assert len(matrix_files) == 80
    proc = zizmor(matrix_files, "--persona", "pedantic")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "No findings to report" in out and "suppressed" not in out, out


def test_every_toggle_combination_matches_githubs_schema(matrix_files: list[Path]) -> None:
    proc = schema(matrix_files)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_does_catch_an_unsafe_workflow(tmp_path: Path) -> None:
    """The check is live: the same pipeline fails on a classic template injection and a missing pin."""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("""name: bad
on: pull_request
permissions: {}
jobs:
  x:
    runs-on: ubuntu-24.04
    permissions: {}
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
""")
    proc = zizmor([bad])
    assert proc.returncode != 0
    assert "template-injection" in proc.stdout and "artipacked" in proc.stdout
