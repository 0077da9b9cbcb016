"""Stack settings for the logging tests: each stack's real Pulumi.<stack>.yaml, optionally overridden."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from components.config import NAMESPACE, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def stack_values(stack: str) -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    prefix = NAMESPACE + ":"
    return {k[len(prefix) :]: v for k, v in (doc.get("config") or {}).items() if k.startswith(prefix)}


def settings_for(stack: str, **overrides: Any) -> Settings:
    return load_settings({**stack_values(stack), **overrides}, stack=stack)


def json_services(stack: str) -> tuple[tuple[str, str], ...]:
    """(namespace, name) of every service the stack runs, as __main__ hands them to Logging."""
    from components.service.load import load_services

    return tuple((s.namespace, s.name) for s in load_services(settings_for(stack).services, ROOT))
