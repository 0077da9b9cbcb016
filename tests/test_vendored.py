"""The repository stands alone: vendored upstream files, their SHA-256 sums, the vendor tool, and the render's
offline kustomization (``kubectl kustomize`` with no network)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from components import upstream, vendored, versions
from tests.conftest import ROOT
from tools import render
from tools import vendor as tool

ARGO = (versions.ARGO_ROLLOUTS_PACKAGE, versions.ARGO_ROLLOUTS_VERSION)


def test_every_vendored_file_matches_its_recorded_sha256() -> None:
    assert tool.check(ROOT) == []
    folders = {p.relative_to(ROOT / "vendor").as_posix() for p in (ROOT / "vendor").glob("*/*") if p.is_dir()}
    assert folders == {
        f"{versions.ARGO_ROLLOUTS_PACKAGE}/{versions.ARGO_ROLLOUTS_VERSION}",
        f"{versions.SCORE_SPEC_PACKAGE}/{versions.SCORE_SPEC_VERSION}",
    }
    for folder in folders:
        assert "Apache License" in (ROOT / "vendor" / folder / "LICENSE").read_text()


def _copy_vendor(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "vendor", tmp_path / "vendor")
    return tmp_path


def test_one_changed_byte_is_named(tmp_path: Path) -> None:
    root = _copy_vendor(tmp_path)
    crd = vendored.release_dir(*ARGO, root) / "rollout-crd.yaml"
    data = bytearray(crd.read_bytes())
    data[100] ^= 0x01
    crd.write_bytes(bytes(data))
    problems = tool.check(root)
    assert len(problems) == 1 and "rollout-crd.yaml" in problems[0] and "does not match" in problems[0]
    with pytest.raises(vendored.VendoredFileError, match=r"rollout-crd\.yaml: SHA-256 [0-9a-f]{64} does not match"):
        vendored.verified(*ARGO, "rollout-crd.yaml", root)
    # an unlisted extra file and a missing one are named too
    (crd.parent / "extra.yaml").write_text("x: 1\n")
    (crd.parent / "analysis-run-crd.yaml").unlink()
    names = " ".join(tool.check(root))
    assert "extra.yaml: not listed" in names and "analysis-run-crd.yaml: listed in SHA256SUMS but missing" in names


def test_a_changed_vendored_manifest_stops_the_render_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _copy_vendor(tmp_path / "repo")
    install = vendored.release_dir(*ARGO, root) / "install.yaml"
    install.write_text(install.read_text().replace("replicas: 1", "replicas: 9", 1))
    monkeypatch.setattr(vendored, "ROOT", root)
    out = tmp_path / "dist"
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    code = render.render("dev", out, stream=io.StringIO())
    assert code == 2
    assert re.search(r"vendor/argo-rollouts/v1\.9\.1/install\.yaml: SHA-256 \w+ does not match", err.getvalue())
    assert "Traceback" not in err.getvalue()
    assert not out.exists()


def _source_form(tmp_path: Path) -> Path:
    """The files as the upstream tag's source tree has them: install.yaml says :latest."""
    src = tmp_path / "src"
    shutil.copytree(vendored.release_dir(*ARGO), src)
    text = (src / "install.yaml").read_text()
    (src / "install.yaml").write_text(
        text.replace(f"argo-rollouts:{versions.ARGO_ROLLOUTS_VERSION}", "argo-rollouts:latest")
    )
    return src


def test_re_vendoring_the_source_form_reproduces_the_vendored_release(tmp_path: Path) -> None:
    src = _source_form(tmp_path)
    folder = tool.vendor(versions.ARGO_ROLLOUTS_PACKAGE, versions.ARGO_ROLLOUTS_VERSION, str(src), None, tmp_path)
    ours = vendored.release_dir(*ARGO)
    for name in ("install.yaml", "rollout-crd.yaml", "analysis-template-crd.yaml", "LICENSE"):
        assert (folder / name).read_bytes() == (ours / name).read_bytes(), name
    assert vendored.verify_folder(folder) == []
    assert "kustomize edit set image" in (folder / "README.md").read_text()


def test_a_new_version_is_pinned_and_a_foreign_tag_refused(tmp_path: Path) -> None:
    src = _source_form(tmp_path)
    folder = tool.vendor(versions.ARGO_ROLLOUTS_PACKAGE, "v1.9.2", str(src), None, tmp_path)
    assert "image: quay.io/argoproj/argo-rollouts:v1.9.2" in (folder / "install.yaml").read_text()
    text = (src / "install.yaml").read_text()
    (src / "install.yaml").write_text(text.replace("argo-rollouts:latest", "argo-rollouts:v0.1"))
    with pytest.raises(tool.VendorError, match=r"image tag\(s\) \['v0.1'\]"):
        tool.vendor(versions.ARGO_ROLLOUTS_PACKAGE, "v1.9.2", str(src), None, tmp_path)
    assert tool.main(["argo-rollouts", "--version", "v1.9.2", "--from", str(tmp_path / "nowhere")]) == 2


def test_the_controller_expands_from_the_vendored_manifest_with_the_transform(stack_run) -> None:  # type: ignore[no-untyped-def]
    run = stack_run("prod")
    (config_file,) = run.by_type("kubernetes:yaml/v2:ConfigFile")
    children = [r for r in run.resources if r.parent == config_file.urn]
    kinds = sorted({r.inputs["kind"] for r in children})
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "CustomResourceDefinition",
        "Deployment",
        "Secret",
        "Service",
        "ServiceAccount",
    ]
    (dep,) = [r for r in children if r.inputs["kind"] == "Deployment"]
    (container,) = dep.inputs["spec"]["template"]["spec"]["containers"]
    assert container["image"] == versions.image("argo-rollouts")
    assert container["resources"]["requests"] and dep.inputs["spec"]["replicas"] == 2
    assert all(
        r.inputs["metadata"].get("namespace") == "argo-rollouts"
        for r in children
        if r.inputs["kind"] in ("Deployment", "Service", "ServiceAccount", "ConfigMap", "Secret")
    )
    assert upstream.resource_type("v1", "Service") == "kubernetes:core/v1:Service"


def test_no_program_or_test_code_reads_outside_the_repository() -> None:
    parent_ref = re.compile(r"\.\./" + "shared|" + r'/ "' + 'shared"')
    offenders = []
    for base in ("__main__.py", "components", "tools", "policies", "tests", "app", "bench", "Makefile", ".ci"):
        paths = [ROOT / base] if (ROOT / base).is_file() else sorted((ROOT / base).rglob("*"))
        for path in paths:
            code = path.is_file() and path.suffix in ("", ".py", ".sh", ".yaml", ".yml") and "venv" not in path.parts
            if code and parent_ref.search(path.read_text(errors="replace")):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


@pytest.mark.tools
def test_kubectl_kustomize_builds_the_render_offline(rendered) -> None:  # type: ignore[no-untyped-def]
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (v1.32, kustomize v5.5) is needed to build the render's kustomization"
    out = rendered("prod")
    kustomization = (out / "k8s" / "kustomization.yaml").read_text()
    assert "http" not in kustomization  # nothing is fetched
    result = subprocess.run([kubectl, "kustomize", str(out / "k8s")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert re.search(
        r"kind: Deployment\nmetadata:\n(  .*\n)*  name: argo-rollouts\n(  .*\n)*  namespace: argo-rollouts\n",
        result.stdout,
    )
    assert f"image: {versions.image('argo-rollouts')}" in result.stdout
