"""A durable deployed version (#18.2), through the mock harness.

The deploy that platform.yml runs for a service (its ``dispatched`` job) is replayed here: the real
"Record the version in the stack file" script runs against a copy of ``Pulumi.prod.yaml``, then the
program runs under Pulumi's mocks the way that job's ``pulumi up`` step runs it (its ``config-map``, if
any, on top of the stack file), and again the way a later PR preview or a manual ``pulumi up -s prod``
runs it (the stack file alone). Before the change, the deploy passed the image in ``config-map`` only:
the up got version X, and every later preview showed the Rollout going back to 1.0.0.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.ci import stackfile
from components.service.load import load_services
from tools.mockrun import Run, load_stack_config, run_stack

ROOT = Path(__file__).resolve().parents[2]
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
X = "0123456789abcdef0123456789abcdef01234567"
Y = "89abcdef0123456789abcdef0123456789abcdef"


def dispatched_job() -> dict[str, Any]:
    return yaml.safe_load((ROOT / ".github/workflows/platform.yml").read_text())["jobs"]["dispatched"]


def step(job: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in job["steps"] if s.get("name") == name)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A checkout of the platform repository as the job sees it: the stack files and .venv/bin/python."""
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    python = tmp_path / ".venv" / "bin" / "python"  # this test run's interpreter (a symlink loses the venv)
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    return tmp_path


def record(workdir: Path, version: str, operation: str = "deploy") -> dict[str, str]:
    """Run the job's real record script; returns its step outputs."""
    script = step(dispatched_job(), "Record the version in the stack file")
    out = workdir / "github-output"
    out.write_text("")
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        "RUNNER_TEMP": str(workdir),
        "GITHUB_OUTPUT": str(out),
        "STACK": "prod",
        "SERVICE": "orders-api",
        "VERSION": version,
        "OPERATION": operation,
    }
    assert set(script["env"]) <= set(env)
    proc = subprocess.run(
        ["bash", "-c", script["run"]], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dict(line.split("=", 1) for line in out.read_text().splitlines())


def stack_file_config(workdir: Path) -> dict[str, str]:
    _project, config, _secrets = load_stack_config("prod", workdir)
    return {k: v for k, v in config.items() if k.startswith("hardening:")}


def config_map_of_up() -> dict[str, str]:
    """What the job's ``pulumi up`` step adds on top of the stack file (``config-map``)."""
    up = next(s for s in dispatched_job()["steps"] if s.get("uses", "").startswith("pulumi/actions@") and "with" in s)
    assert up["with"]["command"] == "up"
    raw = up["with"].get("config-map")
    return {k: v["value"] for k, v in (yaml.safe_load(raw) or {}).items()} if raw else {}


# The stack key the record lands in: hardening:services.<name>.tag, or (a stack file from before the services
# reshape) the flat hardening:appImage.
KEYS = ("hardening:services.orders-api.tag", "hardening:appImage")


def the_rollout(run: Run) -> Any:
    (rollout,) = [r for r in run.by_type(ROLLOUT) if r.inputs["metadata"]["name"] == "orders-api"]
    return rollout


def image_of(run: Run) -> str:
    containers = the_rollout(run).inputs["spec"]["template"]["spec"]["containers"]
    (image,) = [c["image"] for c in containers if c["image"].startswith("ghcr.io/example-org/orders-api:")]
    return str(image)


def test_after_a_deploy_of_x_a_preview_shows_no_change_and_a_manual_up_keeps_x(workdir: Path) -> None:
    before = image_of(run_stack("prod", overrides=stack_file_config(workdir)))
    assert before == "ghcr.io/example-org/orders-api:1.0.0"

    outputs = record(workdir, X)
    assert outputs["changed"] == "true" and outputs["key"] in KEYS and outputs["previous"] == "1.0.0"
    deployed = run_stack("prod", overrides={**stack_file_config(workdir), **config_map_of_up()})
    assert image_of(deployed) == f"ghcr.io/example-org/orders-api:{X}"

    # A later PR preview / manual `pulumi up -s prod`: the stack file alone, as committed by the job.
    later = run_stack("prod", overrides=stack_file_config(workdir))
    assert image_of(later) == image_of(deployed)
    assert the_rollout(deployed).inputs == the_rollout(later).inputs  # no diff: the preview shows no image change

    # The same deploy again (a re-run) records nothing new: no commit, no change.
    text = (workdir / "Pulumi.prod.yaml").read_text()
    assert record(workdir, X)["changed"] == "false"
    assert (workdir / "Pulumi.prod.yaml").read_text() == text


def test_a_rollback_sets_the_same_record(workdir: Path) -> None:
    record(workdir, X)
    outputs = record(workdir, Y, operation="rollback")
    assert outputs["changed"] == "true" and outputs["key"] in KEYS and outputs["previous"] == X
    assert image_of(run_stack("prod", overrides=stack_file_config(workdir))) == f"ghcr.io/example-org/orders-api:{Y}"


def test_the_stack_file_keeps_its_comments_and_every_other_key(workdir: Path) -> None:
    original = (workdir / "Pulumi.prod.yaml").read_text()
    record(workdir, X)
    edited = (workdir / "Pulumi.prod.yaml").read_text()
    changed = [(a, b) for a, b in zip(original.splitlines(), edited.splitlines(), strict=True) if a != b]
    assert len(changed) == 1, changed  # one line: the tag (comments, order and every other key kept)
    before, after = changed[0]
    image = "ghcr.io/example-org/orders-api"
    assert after in (before.replace("1.0.0", f'"{X}"'), before.replace(f"{image}:1.0.0", f'"{image}:{X}"'))
    assert yaml.safe_load(edited)["config"].keys() == yaml.safe_load(original)["config"].keys()


SERVICES_STACK = """# prod, after the services reshape
config:
  hardening:environment: prod
  hardening:services:
    # the orders API: tag recorded by deploys
    orders-api:
      replicas: 3  # three pods
    go-deployment-demo: {}
"""


def test_the_services_shape_records_services_name_tag_and_the_loader_reads_it() -> None:
    first = stackfile.record(SERVICES_STACK, "orders-api", X, file="Pulumi.prod.yaml")
    assert first.key == "hardening:services.orders-api.tag" and first.previous is None and first.changed
    second = stackfile.record(first.text, "go-deployment-demo", "2.4.0", file="Pulumi.prod.yaml")
    config = yaml.safe_load(second.text)["config"]
    assert config["hardening:services"] == {
        "orders-api": {"tag": X, "replicas": 3},
        "go-deployment-demo": {"tag": "2.4.0"},
    }
    assert "# three pods" in second.text and "# the orders API" in second.text
    images = {s.name: s.image for s in load_services(config["hardening:services"])}
    assert images == {
        "orders-api": f"ghcr.io/example-org/orders-api:{X}",
        "go-deployment-demo": "ghcr.io/example-org/go-deployment-demo:2.4.0",
    }
    again = stackfile.record(second.text, "orders-api", X, file="Pulumi.prod.yaml")
    assert not again.changed and again.previous == X


@pytest.mark.parametrize(
    ("text", "service", "tag", "fragment"),
    [
        (SERVICES_STACK, "billing", X, "hardening:services.billing: the service is not selected in this stack"),
        (SERVICES_STACK, "orders-api", "1.0.0\nhardening:x: 1", "tag: '1.0.0\\nhardening:x: 1' is invalid"),
        (SERVICES_STACK, "Orders", X, "service: 'Orders' is invalid"),
        ("config:\n  hardening:services: {orders-api: {}}\n", "orders-api", X, "flow style"),
        ("config:\n  hardening:services:\n    orders-api: {replicas: 2}\n", "orders-api", X, "flow style"),
        ("config: [1]\n", "orders-api", X, "no 'config' mapping"),
    ],
)
def test_bad_requests_name_the_key_and_change_nothing(text: str, service: str, tag: str, fragment: str) -> None:
    with pytest.raises(stackfile.StackFileError) as info:
        stackfile.record(text, service, tag, file="Pulumi.prod.yaml")
    assert fragment in str(info.value)


def test_the_cli_exits_2_and_writes_nothing_on_bad_input(workdir: Path) -> None:
    original = (workdir / "Pulumi.prod.yaml").read_text()
    for args in (["--service", "billing", "--tag", X], ["--service", "orders-api", "--tag", "$(id)"]):
        proc = subprocess.run(
            [sys.executable, "-m", "components.ci.stackfile", "--stack", "prod", "--root", str(workdir), *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert (workdir / "Pulumi.prod.yaml").read_text() == original
