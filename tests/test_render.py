"""The offline render: files, apply order, plan, determinism, and secrets that never leak."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import yamlio
from tools.mockrun import PLACEHOLDER_PREFIX, ROOT, Run, run_stack
from tools.render import (
    KIND_ORDER,
    MARKER_FILE,
    MASK,
    OutDirError,
    format_summary,
    render,
    render_run,
    write_atomically,
)

STACKS = ["dev", "prod"]


@pytest.mark.parametrize("stack", STACKS)
def test_render_writes_manifests_plan_and_kustomization(rendered: Callable[[str], Path], stack: str) -> None:
    out = rendered(stack)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert "plan.json" in files and "k8s/kustomization.yaml" in files
    assert files[files.index("k8s/kustomization.yaml") - 1].startswith("k8s/")
    kustomization = yamlio.load((out / "k8s/kustomization.yaml").read_text())
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
        docs = [d for d in yamlio.load_all(path.read_text()) if d]
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


SECRET = "https://hooks.example.invalid/services/T000/B000/very-secret-token-value"


INJECTED = (
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


@pytest.fixture(scope="module")
def run_with_secrets() -> Run:
    # GitHub-secret mode with the program hosted in the service's repository: the preview workflow's
    # PULUMI_ACCESS_TOKEN and KUBECONFIG_PROD are then GitHub secrets too, so every injected secret reaches
    # a resource input (in Vault mode those two are read from Vault and would prove nothing here).
    return run_stack(
        "prod",
        overrides={"ciVaultSecrets": False, "ciPlatformRepository": "example-org/orders-api"},
        secrets={name: f"{SECRET}-{name}" for name in INJECTED},
    )


def test_every_injected_secret_reaches_a_resource(run_with_secrets: Run) -> None:
    inputs = [json.dumps(r.to_record()["inputs"], default=str) for r in run_with_secrets.resources]
    for name in INJECTED:
        assert any(f"{SECRET}-{name}" in text for text in inputs), f"{name} reaches no resource input"


def test_secret_config_never_reaches_rendered_files(run_with_secrets: Run) -> None:
    out = render_run(run_with_secrets)
    for rel, text in out.files.items():
        for name in INJECTED:
            assert f"{SECRET}-{name}" not in text, (rel, name)
        assert "very-secret-token-value" not in text, rel
        assert PLACEHOLDER_PREFIX not in text, rel


def test_placeholders_never_reach_rendered_files(rendered: Callable[[str], Path]) -> None:
    for stack in STACKS:
        for path in rendered(stack).rglob("*"):
            if path.is_file():
                assert PLACEHOLDER_PREFIX not in path.read_text(), path


# --- bad input: exit 2, a message naming the key, no traceback, nothing written ---------------------------
@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        (
            {"services": {"orders-api": {"tag": "a" * 129}}},
            ["hardening:services.orders-api.tag: '" + "a" * 129 + "'", "immutable image tag"],
        ),
        ({"services": {"orders-api": {"replicas": 0}}}, ["hardening:services.orders-api.replicas: 0"]),
    ],
)
def test_bad_service_overrides_exit_2_naming_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], overrides: dict[str, Any], fragments: list[str]
) -> None:
    """What a builder would refuse is caught up front, by the validator, with the setting named."""
    out = tmp_path / "dev"
    assert render("dev", out, overrides, stream=io.StringIO(), policy=False) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err
    assert not out.exists()


def test_a_builder_rejection_still_exits_2_naming_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The safety net behind the validator: a builder's own ValueError (here the delivery builder refusing the
    service's name) becomes exit 2 with the stack setting that holds the value."""
    from components.canary import specs

    def refuse(inp: Any) -> None:
        raise specs.StrategyError([f"app = {inp.app!r} is invalid; accepted: a DNS-1123 label"])

    monkeypatch.setattr(specs, "validate", refuse)
    out = tmp_path / "dev"
    assert render("dev", out, {"services": {"orders-api": {"tag": "9.9.9"}}}, stream=io.StringIO(), policy=False) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid configuration:") and "Traceback" not in err
    assert "app = 'orders-api' is invalid" in err and not out.exists()


def _stack_root(tmp_path: Path, stack_text: str) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    (root / "Pulumi.dev.yaml").write_text(stack_text)
    return root


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("- config\n- dev\n", "Pulumi.dev.yaml: the top level is a list; accepted: a mapping"),
        ("config:\n  hardening:team: [\n", "Pulumi.dev.yaml: not valid YAML at line 3, column 1"),
        ("config: [1, 2]\n", "Pulumi.dev.yaml: 'config' must be a mapping"),
    ],
)
def test_malformed_stack_files_exit_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, fragment: str
) -> None:
    out = tmp_path / "out"
    assert render("dev", out, stream=io.StringIO(), root=_stack_root(tmp_path, text)) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert not out.exists()


def test_bad_set_flag_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    from tools.render import main

    assert main(["--stack", "dev", "--set", "grafanaReplicas"]) == 2
    assert "--set 'grafanaReplicas': expected KEY=VALUE" in capsys.readouterr().err


# --- --out replaces only what a render made ----------------------------------------------------------------
FILES = {"k8s/00-a.yaml": "a: 1\n", "plan.json": "{}\n"}


def test_out_refuses_a_directory_the_render_did_not_make(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    assert render("dev", home, stream=io.StringIO(), policy=False) == 2
    err = capsys.readouterr().err
    assert f"--out {home}: refusing to replace it: it is not empty (notes.txt)" in err
    assert f"no {MARKER_FILE} marker" in err
    assert sorted(p.name for p in home.iterdir()) == ["notes.txt"] and (home / "notes.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["home"]  # no temporary or backup directory left behind


def test_out_replaces_its_own_output_but_not_files_added_to_it(tmp_path: Path) -> None:
    out = tmp_path / "dev"
    write_atomically(out, FILES)
    assert json.loads((out / MARKER_FILE).read_text()) == {"tool": "tools.render", "files": sorted(FILES)}
    write_atomically(out, {**FILES, "cost.json": "{}\n"})  # a render's own output: replaced
    assert (out / "cost.json").is_file()
    (out / "k8s" / "notes.txt").write_text("mine")
    with pytest.raises(OutDirError, match=r"holds 1 file\(s\) the render did not write \(k8s/notes.txt\)"):
        write_atomically(out, FILES)
    assert (out / "k8s" / "notes.txt").read_text() == "mine" and (out / "cost.json").is_file()


@pytest.mark.parametrize("kind", ["file", "forged-marker", "symlink"])
def test_out_refuses_files_forged_markers_and_links(tmp_path: Path, kind: str) -> None:
    out = tmp_path / "dev"
    if kind == "file":
        out.write_text("x")
        match = "exists and is not a directory"
    elif kind == "forged-marker":
        out.mkdir()
        (out / MARKER_FILE).write_text("I am not JSON")
        (out / "data.db").write_text("precious")
        match = "is not a marker the render wrote"
    else:
        (tmp_path / "target").mkdir()
        out.symlink_to(tmp_path / "target")
        match = "is a symbolic link"
    with pytest.raises(OutDirError, match=match):
        write_atomically(out, FILES)
    if kind == "forged-marker":
        assert (out / "data.db").read_text() == "precious"


def test_empty_or_new_directory_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    write_atomically(tmp_path / "empty", FILES)
    write_atomically(tmp_path / "new" / "deeper", FILES)
    assert (tmp_path / "empty" / "plan.json").is_file() and (tmp_path / "new" / "deeper" / "plan.json").is_file()


# --- dist/ is safe to apply: no Secret with a placeholder in the kustomization ------------------------------
def _kustomized_files(k8s: Path) -> Iterator[Path]:
    doc = yamlio.load((k8s / "kustomization.yaml").read_text())
    for entry in doc["resources"]:
        path = k8s / entry
        if path.is_dir():
            yield from _kustomized_files(path)
        else:
            yield path


@pytest.mark.parametrize("stack", STACKS)
def test_no_applyable_secret_holds_a_placeholder(rendered: Callable[[str], Path], stack: str) -> None:
    out = rendered(stack)
    files = list(_kustomized_files(out / "k8s"))
    assert len(files) >= 5
    for path in files:
        text = path.read_text()
        assert MASK not in text and PLACEHOLDER_PREFIX not in text and "redacted" not in text, path
        for doc in yamlio.load_all(text):
            if doc and doc["kind"] == "Secret":
                values = {**(doc.get("stringData") or {}), **(doc.get("data") or {})}
                assert all("<" not in str(v) for v in values.values()), (path, doc["metadata"]["name"])
    held = sorted(p.name for p in (out / "secrets.example").iterdir())
    assert "monitoring-grafana-admin.sh" in held
    k8s_names = {
        (d["metadata"].get("namespace"), d["metadata"]["name"])
        for p in files
        for d in yamlio.load_all(p.read_text())
        if d and d["kind"] == "Secret"
    }
    assert ("monitoring", "grafana-admin") not in k8s_names


FAKE_KUBECTL = """#!/bin/sh
printf '%s\\n' "$*" >> "$KUBECTL_LOG"
case "$1" in
  create) printf 'apiVersion: v1\\nkind: Secret\\n' ;;
  *) cat ;;
esac
"""


def test_held_secret_script_creates_the_secret_from_the_environment(run_with_secrets: Run, tmp_path: Path) -> None:
    out = render_run(run_with_secrets)
    # with secret config, the Alertmanager receivers' Secret is held out as well; k8s/ has no masked value
    assert {h.path for h in out.held} == {
        "secrets.example/monitoring-grafana-admin.sh",
        "secrets.example/monitoring-alertmanager-receivers.sh",
    }
    assert not [rel for rel, text in out.files.items() if rel.startswith("k8s/") and MASK in text]
    for held in out.held:
        assert MASK not in out.files[held.path] and "very-secret-token-value" not in out.files[held.path]
    script = out.files["secrets.example/monitoring-grafana-admin.sh"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL)
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "s.sh").write_text(script)
    log = tmp_path / "kubectl.log"
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "KUBECTL_LOG": str(log)}
    missing = subprocess.run(["sh", str(tmp_path / "s.sh")], env=env, capture_output=True, text=True, check=False)
    assert missing.returncode != 0 and "set GRAFANA_ADMIN_ADMIN_PASSWORD" in missing.stderr
    assert not log.exists()  # kubectl is never called without the value
    env["GRAFANA_ADMIN_ADMIN_PASSWORD"] = "s3cr3t-from-the-operator"
    ok = subprocess.run(["sh", str(tmp_path / "s.sh")], env=env, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    calls = {line.split()[0]: line for line in log.read_text().splitlines()}  # a pipeline: any order
    assert sorted(calls) == ["apply", "create", "label"]
    assert calls["create"].startswith("create secret generic grafana-admin --namespace monitoring --type Opaque")
    assert "--from-literal=admin-password=s3cr3t-from-the-operator" in calls["create"]
    assert (
        calls["label"].startswith("label --local -f - -o yaml") and "app.kubernetes.io/name=grafana" in calls["label"]
    )
    assert calls["apply"] == "apply -f -"


# --- the summary ----------------------------------------------------------------------------------------
LIMITS = {"dev": 25, "prod": 40}


@pytest.fixture(scope="module")
def summaries(
    rendered: Callable[[str], Path], rendered_summary: Callable[[str], str]
) -> dict[str, tuple[str, dict[str, Any]]]:
    """(text summary, --json summary) of each real stack: the session's render printed the text; a second render
    with --json replaces that render's output (the same files: the render is deterministic)."""
    got: dict[str, tuple[str, dict[str, Any]]] = {}
    for stack in STACKS:
        js = io.StringIO()
        assert render(stack, rendered(stack), stream=js, as_json=True) == 0
        got[stack] = (rendered_summary(stack), json.loads(js.getvalue()))
    return got


@pytest.mark.parametrize("stack", STACKS)
def test_summary_fits_and_groups_policy_results_by_rule(
    summaries: dict[str, tuple[str, dict[str, Any]]], stack: str
) -> None:
    text, doc = summaries[stack]
    lines = text.splitlines()
    assert len(lines) <= LIMITS[stack], text
    assert "\x1b[" not in text  # not a terminal: no colour
    assert lines[0].startswith(f"stack {stack}: {doc['resources']} resources")
    # one Namespace per platform area (6) and per service namespace; each with its quota and LimitRange
    n = 6 + {"dev": 1, "prod": 2}[stack]
    assert re.search(
        rf"^  namespaces +{4 * n + n}  NetworkPolicy {2 * n}, LimitRange {n}, Namespace {n}, ResourceQuota {n}$",
        text,
        re.M,
    ), text
    digest = [line for line in lines if "images-pinned-by-digest" in line]
    rule = next(r for r in doc["policy"]["rules"] if r["policy"] == "images-pinned-by-digest")
    assert len(digest) == 1 and f" x{rule['count']}: " in digest[0] and "more (--verbose)" in digest[0]
    # one finding per unpinned container (alertmanager and a service with its Vault Agent have two)
    assert rule["count"] > len(rule["resources"]) >= 10
    assert doc["cost"]["budget"] and f"% of the ${doc['cost']['budget']:,.2f} budget (within)" in text
    assert f"kubectl apply -k {doc['out']}/k8s" in text
    assert (
        f"pulumi preview --stack {stack} --policy-pack policies --policy-pack-config policies/config/{stack}.json"
        in text
    )
    assert f"python -m tools.cost diff ../main/dist/{stack} {doc['out']}" in text
    assert "GRAFANA_ADMIN_ADMIN_PASSWORD=... sh " in text


def test_summary_says_why_something_was_skipped(summaries: dict[str, tuple[str, dict[str, Any]]]) -> None:
    dev, prod = summaries["dev"][1], summaries["prod"][1]
    assert "0 repository files: githubManage is false" in dev["skipped"]
    assert prod["repositoryFiles"] > 0 and not any("repository files" in s for s in prod["skipped"])
    assert any(s.startswith("1 resource(s) not priced: upstream manifest") for s in dev["skipped"])


def test_summary_verbose_names_everything_and_colours_on_a_terminal(
    summaries: dict[str, tuple[str, dict[str, Any]]],
) -> None:
    doc = summaries["prod"][1]
    verbose = "\n".join(format_summary(doc, verbose=True))
    rule = next(r for r in doc["policy"]["rules"] if r["policy"] == "images-pinned-by-digest")
    for resource in rule["resources"]:
        assert resource in verbose
    assert "more (--verbose)" not in verbose and "kinds" not in verbose.split("policies")[0]
    coloured = "\n".join(format_summary(doc, color=True))
    assert "\x1b[1mstack prod\x1b[0m" in coloured and "\x1b[32mok\x1b[0m" in coloured


def test_quiet_prints_nothing_on_success(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    buf = io.StringIO()
    assert render("dev", tmp_path / "dev", stream=buf, policy=False, quiet=True) == 0
    assert buf.getvalue() == "" and capsys.readouterr().err == ""
    assert (tmp_path / "dev" / "plan.json").is_file()


def test_an_unmarked_render_is_replaced_once_but_not_with_extra_files(tmp_path: Path) -> None:
    """A dist/<stack> a render wrote before the marker existed: only the render's own layout."""
    out = tmp_path / "dev"
    (out / "k8s").mkdir(parents=True)
    (out / "k8s" / "00-namespaces.yaml").write_text("a: 1\n")
    (out / "plan.json").write_text(json.dumps({"project": "p", "stack": "dev", "resources": [], "outputs": {}}))
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutDirError, match=r"no \.hardening-render marker"):
        write_atomically(out, FILES)
    (out / "notes.txt").unlink()
    write_atomically(out, FILES)
    assert (out / MARKER_FILE).is_file() and not (out / "k8s" / "00-namespaces.yaml").exists()
