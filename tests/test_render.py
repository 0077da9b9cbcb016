"""The offline render: files, apply order, plan, determinism, and secrets that never leak."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tools.mockrun import PLACEHOLDER_PREFIX, Run, run_stack
from tools.render import KIND_ORDER, render, render_run

STACKS = ["dev", "prod"]


@pytest.mark.parametrize("stack", STACKS)
def test_render_writes_manifests_plan_and_kustomization(rendered: Callable[[str], Path], stack: str) -> None:
    out = rendered(stack)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert "plan.json" in files and "k8s/kustomization.yaml" in files
    assert files[files.index("k8s/kustomization.yaml") - 1].startswith("k8s/")
    kustomization = yaml.safe_load((out / "k8s/kustomization.yaml").read_text())
    assert kustomization["resources"][0] == "00-namespaces.yaml"
    for entry in kustomization["resources"]:
        assert (out / "k8s" / entry).exists(), entry
    plan = json.loads((out / "plan.json").read_text())
    assert plan["stack"] == stack and plan["resources"]
    for res in plan["resources"]:
        assert set(res) >= {"urn", "type", "name", "parent", "inputs"}
        assert res["urn"].startswith(f"urn:pulumi:{stack}::hardening::")
    assert plan["outputs"]["environment"] == stack


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_is_a_full_manifest_in_apply_order(rendered: Callable[[str], Path], stack: str) -> None:
    out = rendered(stack)
    seen_kinds: list[str] = []
    for path in sorted((out / "k8s").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        assert docs, path
        ranks = [KIND_ORDER.index(d["kind"]) if d["kind"] in KIND_ORDER else len(KIND_ORDER) for d in docs]
        assert ranks == sorted(ranks), f"{path.name} is not in apply order"
        for d in docs:
            assert d["apiVersion"] and d["kind"] and d["metadata"]["name"], d
            assert list(d)[:3] == ["apiVersion", "kind", "metadata"]
            seen_kinds.append(d["kind"])
    assert seen_kinds[0] == "Namespace"


def test_render_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert render("prod", a, stream=io.StringIO(), policy=False) == 0
    assert render("prod", b, stream=io.StringIO(), policy=False) == 0
    for path in a.rglob("*"):
        if path.is_file() and path.name not in ("policy.json",):
            assert path.read_text() == (b / path.relative_to(a)).read_text(), path


def test_summary_lists_resources_per_component_and_kind(tmp_path: Path) -> None:
    buf = io.StringIO()
    assert render("dev", tmp_path / "dev", stream=buf, policy=False) == 0
    text = buf.getvalue()
    assert "stack dev:" in text and "namespaces" in text and "Namespace 7" in text
    assert f"to {tmp_path / 'dev'}" in text


SECRET = "https://hooks.example.invalid/services/T000/B000/very-secret-token-value"


@pytest.fixture(scope="module")
def run_with_secrets() -> Run:
    return run_stack(
        "prod",
        secrets={
            name: f"{SECRET}-{name}"
            for name in (
                "alertWebhookUrl",
                "alertSlackWebhookUrl",
                "alertPagerdutyRoutingKey",
                "pulumiAccessToken",
                "ciKubeconfig",
                "railwayToken",
                "renderApiKey",
                "renderServiceId",
                "flyApiToken",
            )
        },
    )


def test_secret_config_never_reaches_rendered_files(run_with_secrets: Run) -> None:
    out = render_run(run_with_secrets)
    for rel, text in out.files.items():
        assert "very-secret-token-value" not in text, rel
        assert PLACEHOLDER_PREFIX not in text, rel


def test_placeholders_never_reach_rendered_files(rendered: Callable[[str], Path]) -> None:
    for stack in STACKS:
        for path in rendered(stack).rglob("*"):
            if path.is_file():
                assert PLACEHOLDER_PREFIX not in path.read_text(), path
