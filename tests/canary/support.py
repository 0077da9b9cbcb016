"""Stack settings for the canary tests, read like the program reads them (Pulumi.yaml defaults +
Pulumi.<stack>.yaml), without running Pulumi."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.config import NAMESPACE, Settings, _decode, load_settings
from tools.mockrun import load_stack_config


def stack_settings(stack: str, overrides: Mapping[str, Any] | None = None) -> Settings:
    project, config, secret_keys = load_stack_config(stack)
    prefix = NAMESPACE + ":"
    raw: dict[str, Any] = {
        k[len(prefix) :]: _decode(v) for k, v in config.items() if k.startswith(prefix) and k not in secret_keys
    }
    raw.update(overrides or {})
    return load_settings(raw, project=project, stack=stack)
