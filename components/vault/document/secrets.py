"""``secrets: {<mount>: {type: kv, options: {version: "2"}, config: {...}, rotation_period}}``.

``type``, ``description`` and ``options`` are the body of ``sys/mounts/<mount>``; ``config`` the body of
``<mount>/config`` (``max_versions``, ``cas_required``, ``delete_version_after``). ``rotation_period`` is
the platform's convention, not a Vault field: the default rotation period ``tools.vault seed`` writes as
each secret's ``custom_metadata.rotation_period`` and ``rotation-report`` checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.vault.document.base import Problems, parse_duration, path_of

DEFAULT_ROTATION_PERIOD = "2160h"  # 90 days
ROTATION_METADATA_KEY = "rotation_period"
MIN_ROTATION = 3600.0
MAX_ROTATION = 10 * 365 * 86400.0


def kv_mount(
    *,
    max_versions: int = 10,
    cas_required: bool = False,
    rotation_period: str = DEFAULT_ROTATION_PERIOD,
    description: str = "Application and CI secrets (KV v2)",
) -> dict[str, Any]:
    """A KV version 2 mount entry."""
    return {
        "type": "kv",
        "description": description,
        "options": {"version": "2"},
        "config": {"max_versions": max_versions, "cas_required": cas_required},
        "rotation_period": rotation_period,
    }


def kv_mounts(document: Mapping[str, Any]) -> set[str]:
    """The KV mounts the document declares (a wrong ``options.version`` is the schema's to report)."""
    secrets = document.get("secrets")
    return {
        name
        for name, m in (secrets if isinstance(secrets, Mapping) else {}).items()
        if isinstance(m, Mapping) and m.get("type") == "kv"
    }


def check(document: Mapping[str, Any], problems: Problems) -> None:
    """``rotation_period`` parses with the duration parser and lies between 1h and 10 years."""
    secrets = document.get("secrets")
    for name, mount in (secrets if isinstance(secrets, Mapping) else {}).items():
        period = mount.get("rotation_period") if isinstance(mount, Mapping) else None
        if not isinstance(period, str):
            continue
        try:
            seconds = parse_duration(period)
        except ValueError:
            continue  # the schema reported it
        if not MIN_ROTATION <= seconds <= MAX_ROTATION:
            problems.add(
                path_of("secrets", name, "rotation_period"), f"{period!r}; accepted: between 1h and 87600h (10 years)"
            )
