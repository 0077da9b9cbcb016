"""``policies: {<name>: <hcl>}``: each is written to ``sys/policies/acl/<name>`` as ``{policy: <hcl>}``.

Checks the schema cannot express: the HCL parses (``policy_hcl``), no rule grants on every path, and a
KV v2 data or metadata path names a mount the document declares in ``secrets``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from components.vault import policy_hcl
from components.vault.document.base import Problems, path_of
from components.vault.policy_hcl import PathRule, PolicyError

EVERY_PATH = ("*", "+", "+/*")
_KV_PATH = re.compile(r"^([^/+*]+)/(data|metadata)/")


def _check_rules(name: str, rules: list[PathRule], kv_mounts: set[str], problems: Problems) -> None:
    where = path_of("policies", name)
    for rule in rules:
        if rule.path in EVERY_PATH and "deny" not in rule.capabilities:
            problems.add(
                where,
                f"policy {name!r} grants {list(rule.capabilities)} on every path ({rule.path!r}); "
                "accepted: paths scoped to what the holder needs",
            )
        m = _KV_PATH.match(rule.path)
        if m and m.group(1) not in kv_mounts:
            problems.add(
                where,
                f"policy {name!r} path {rule.path!r}: no KV v2 mount {m.group(1)!r} in secrets; "
                f"defined: {', '.join(sorted(kv_mounts)) or 'none'}",
            )


def check(document: Mapping[str, Any], kv_mounts: set[str], problems: Problems) -> set[str]:
    """Check every policy; returns the names of those whose HCL does not parse (reported here once)."""
    broken: set[str] = set()
    policies = document.get("policies")
    for name, text in (policies if isinstance(policies, Mapping) else {}).items():
        if not isinstance(text, str) or not text.strip():
            broken.add(name)  # the schema reported it
            continue
        try:
            rules = policy_hcl.parse_policy(text, name=name)
        except PolicyError as exc:
            problems.add(path_of("policies", name), str(exc))
            broken.add(name)
            continue
        _check_rules(name, rules, kv_mounts, problems)
    return broken
