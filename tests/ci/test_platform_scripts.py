"""platform.yml's rollback steps run for real with bash and jq; ``kubectl`` and ``pulumi`` are stand-ins on
PATH that record their arguments and answer like the real CLIs (the cluster and Pulumi Cloud are not here).

- "Abort the canary in progress": patches ``status.abort`` (what ``kubectl argo rollouts abort`` does) only
  when the Rollout is mid-update (``currentPodHash`` differs from ``stableRS``), in the Rollout's namespace.
- "Find the service's Rollout": the URN of exactly that service's Rollout, for ``pulumi up --target``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def step(name: str) -> dict[str, Any]:
    job = yaml.safe_load((ROOT / ".github/workflows/platform.yml").read_text())["jobs"]["dispatched"]
    return next(s for s in job["steps"] if s.get("name") == name)


def fake(tmp_path: Path, name: str, answer: Any) -> Path:
    """A stand-in CLI: logs "$*" and prints ``answer`` (JSON) for the read commands."""
    (tmp_path / "bin").mkdir(exist_ok=True)
    (tmp_path / "answer.json").write_text(json.dumps(answer))
    script = tmp_path / "bin" / name
    script.write_text(
        f'#!/usr/bin/env bash\necho "$*" >> "{tmp_path}/{name}.log"\n'
        f'case "$1" in get|stack) cat "{tmp_path}/answer.json" ;; esac\n'
    )
    script.chmod(0o755)
    return tmp_path / f"{name}.log"


def run(tmp_path: Path, script: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "GITHUB_OUTPUT": str(tmp_path / "out"), **env}
    return subprocess.run(["bash", "-c", script], env=full, capture_output=True, text=True, timeout=60)


def rollout(name: str, namespace: str, current: str, stable: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "status": {"currentPodHash": current, "stableRS": stable},
    }


@pytest.mark.parametrize(
    ("items", "patched"),
    [
        ([rollout("billing", "pay", "a", "b"), rollout("orders-api", "web", "new", "old")], True),
        ([rollout("orders-api", "web", "old", "old")], False),
    ],
)
def test_the_abort_patches_only_a_rollout_mid_update(tmp_path: Path, items: list, patched: bool) -> None:
    s = step("Abort the canary in progress (rollback)")
    log = fake(tmp_path, "kubectl", {"items": items})
    proc = run(tmp_path, s["run"], SERVICE="orders-api", KUBECONFIG="/dev/null")
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "get rollouts.argoproj.io --all-namespaces -o json"
    if patched:
        assert calls[1] == (
            "patch rollouts.argoproj.io orders-api -n web --subresource status --type merge "
            '-p {"status":{"abort":true}}'
        )
        assert "traffic is back on the stable ReplicaSet" in proc.stdout
    else:
        assert len(calls) == 1


def test_no_rollout_means_nothing_to_abort(tmp_path: Path) -> None:
    s = step("Abort the canary in progress (rollback)")
    fake(tmp_path, "kubectl", {"items": [rollout("billing", "pay", "a", "b")]})
    proc = run(tmp_path, s["run"], SERVICE="orders-api", KUBECONFIG="/dev/null")
    assert proc.returncode == 0 and "::warning::no Rollout named orders-api" in proc.stdout


URN = "urn:pulumi:prod::hardening::hardening:canary:CanaryDelivery$kubernetes:argoproj.io/v1alpha1:Rollout::orders-api"


def test_the_target_is_the_services_rollout_urn(tmp_path: Path) -> None:
    s = step("Find the service's Rollout (rollback)")
    resources = [
        {"type": "kubernetes:core/v1:Service", "urn": "urn:x:Service", "outputs": {"metadata": {"name": "orders-api"}}},
        {"type": "kubernetes:argoproj.io/v1alpha1:Rollout", "urn": "urn:other", "outputs": {"metadata": {"name": "x"}}},
        {
            "type": "kubernetes:argoproj.io/v1alpha1:Rollout",
            "urn": URN,
            "outputs": {"metadata": {"name": "orders-api"}},
        },
    ]
    log = fake(tmp_path, "pulumi", {"deployment": {"resources": resources}})
    proc = run(tmp_path, s["run"], PULUMI_ORG="acme", STACK="prod", SERVICE="orders-api", PULUMI_ACCESS_TOKEN="x")
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().splitlines() == ["stack export --stack acme/hardening/prod"]
    assert (tmp_path / "out").read_text() == f"urn={URN}\n"


def test_a_stack_without_the_rollout_fails_the_rollback(tmp_path: Path) -> None:
    s = step("Find the service's Rollout (rollback)")
    fake(tmp_path, "pulumi", {"deployment": {"resources": []}})
    proc = run(tmp_path, s["run"], PULUMI_ORG="acme", STACK="prod", SERVICE="orders-api", PULUMI_ACCESS_TOKEN="x")
    assert proc.returncode == 1 and "the stack has no Rollout named orders-api" in proc.stdout
