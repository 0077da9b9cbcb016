"""Shared helpers for the CI tests: every toggle combination of the workflow builders, step lookups."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from components.ci.workflows import WorkflowOptions

# The orders API as the flat app* settings describe it (WorkflowOptions.from_settings): lint and test jobs.
BASE: dict[str, Any] = {
    "owner": "example-org",
    "repository": "orders-api",
    "image": "ghcr.io/example-org/orders-api",
    "test_command": "python -m pytest -q tests/app",
    "lint_commands": ("ruff check app tests/app", "mypy app/orders_api"),
}
VAULT = "https://vault.example.com"


def combinations() -> Iterator[tuple[str, WorkflowOptions]]:
    """(label, options) for railway x render x fly x vault, each on and off (16 combinations)."""
    for railway, render, fly, vault in itertools.product((False, True), repeat=4):
        label = (
            "-".join(
                name for name, on in (("railway", railway), ("render", render), ("fly", fly), ("vault", vault)) if on
            )
            or "none"
        )
        yield (
            label,
            WorkflowOptions(
                **BASE,
                deploy_railway=railway,
                deploy_render=render,
                deploy_fly=fly,
                vault_secrets=vault,
                vault_address=VAULT if vault else "",
            ),
        )


def options(**changes: Any) -> WorkflowOptions:
    return WorkflowOptions(**{**BASE, **changes})


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).split("@", 1)[0] == action]


def step_named(job: dict[str, Any], fragment: str) -> dict[str, Any]:
    found = [s for s in job["steps"] if fragment in str(s.get("name", ""))]
    assert len(found) == 1, f"{len(found)} steps named like {fragment!r}: {[s.get('name') for s in job['steps']]}"
    return found[0]


def all_steps(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for job_id, job in doc["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step
