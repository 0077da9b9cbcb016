"""Every rendered manifest validates strictly against the three newest Kubernetes minor versions
(kubernetes-validate --strict), and every custom resource against its upstream CRD schema."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import yamlio
from tests.support.crds import crd_schemas, validate_custom_resource

KUBERNETES_VERSIONS = ["1.35.0", "1.36.0", "1.37.0"]  # the three newest minors kubernetes-validate ships
STACKS = ["dev", "prod"]


def _validator() -> str:
    exe = Path(sys.executable).parent / "kubernetes-validate"
    found = str(exe) if exe.exists() else shutil.which("kubernetes-validate")
    assert found, "kubernetes-validate is not installed (requirements-dev.txt)"
    return found


def manifest_files(out: Path) -> list[Path]:
    """Every manifest the render wrote, the upstream release manifests' folders included."""
    files = [p for p in sorted((out / "k8s").rglob("*.yaml")) if p.name != "kustomization.yaml"]
    assert any(p.parent.name.startswith("upstream-") for p in files), "the vendored Argo Rollouts manifest"
    return files


@pytest.mark.tools
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("stack", STACKS)
def test_manifests_validate_strictly(rendered: Callable[[str], Path], stack: str, version: str) -> None:
    files = manifest_files(rendered(stack))
    proc = subprocess.run(
        [_validator(), "--strict", "--quiet", "-k", version, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = proc.stdout + proc.stderr
    errors = [line for line in report.splitlines() if not line.startswith("WARN")]
    assert proc.returncode == 0 and not errors, report
    # The only schemas it may lack are the custom resources checked against their CRDs below.
    custom_kinds = {kind for _api, kind in crd_schemas()}
    for line in report.splitlines():
        if line.startswith("WARN"):
            assert any(f"kind {kind}" in line or kind.lower() in line.lower() for kind in custom_kinds), line


@pytest.mark.parametrize("stack", STACKS)
def test_custom_resources_validate_against_crds(rendered: Callable[[str], Path], stack: str) -> None:
    known = {api.split("/")[0] for api, _ in crd_schemas()}
    for path in manifest_files(rendered(stack)):
        for doc in yamlio.load_all(path.read_text()):
            if doc and doc["apiVersion"].split("/")[0] in known:
                validate_custom_resource(doc)


def test_crd_validation_rejects_unknown_fields_and_bad_types() -> None:
    import jsonschema

    good: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "x"},
        "spec": {"metrics": [{"name": "m", "provider": {"prometheus": {"address": "http://p:9090", "query": "up"}}}]},
    }
    validate_custom_resource(good)
    bad_field = {**good, "spec": {**good["spec"], "bogus": 1}}
    with pytest.raises(jsonschema.ValidationError):
        validate_custom_resource(bad_field)
    bad_type = {**good, "spec": {"metrics": [{"name": "m", "interval": 30, "provider": {}}]}}
    with pytest.raises(jsonschema.ValidationError):
        validate_custom_resource(bad_type)
