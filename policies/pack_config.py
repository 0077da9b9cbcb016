"""The pack's configuration file (``policies/config/<stack>.json``): read, validated, reconciled.

The format is the CLI's ``--policy-pack-config``: policy name -> level string, or an object with
``enforcementLevel`` and the policy's properties; ``all`` sets every level. Reconciled like the CLI's
``ReconcilePolicyPackConfig`` (registry defaults <- ``all`` <- each policy) and validated with
``jsonschema`` against each rule's schema. Stricter than the CLI on purpose: an unknown policy or
property is an error (the CLI ignores both, which hides typos).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from .registry import LEVELS, RULES
from .rules.common import Rule

PACK_DIR = Path(__file__).resolve().parent
CONFIG_DIR = PACK_DIR / "config"


class PolicyConfigError(ValueError):
    """The policy config file is invalid; the message names every offending key."""


@dataclass
class PolicyConfig:
    level: str | None
    properties: dict[str, Any] = field(default_factory=dict)


def default_config_path(stack: str) -> Path:
    return CONFIG_DIR / f"{stack}.json"


def _entry_errors(name: str, value: Any, rule: Rule | None) -> list[str]:
    """What is wrong with one entry of the file (``rule`` None: the ``all`` key, a level only)."""
    if isinstance(value, str):
        ok = value in LEVELS
        return [] if ok else [f"{name}: {value!r} is not an enforcement level (accepted: {', '.join(LEVELS)})"]
    if rule is None or not isinstance(value, Mapping):
        return [f"{name}: must be {'a level string' if rule is None else 'a level string or an object'}, got {value!r}"]
    props = {"enforcementLevel": {"enum": list(LEVELS)}, **rule.schema()}
    unknown = sorted(set(value) - set(props))
    out = [f"{name}.{k}: unknown property (accepted: {', '.join(props)})" for k in unknown]
    schema = {"type": "object", "properties": props, "required": list(rule.required)}
    for err in sorted(jsonschema.Draft7Validator(schema).iter_errors(value), key=lambda e: list(e.path)):
        where = name + "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in err.path)
        out.append(f"{where}: {err.message}")
    return out


def reconcile(given: Any, source: str = "policy config") -> dict[str, PolicyConfig]:
    """Registry defaults (level, schema defaults) <- ``all`` <- each named policy, like the CLI's
    ``ReconcilePolicyPackConfig``; ``given`` is validated first (jsonschema) and every error reported."""
    rules = {r.name: r for r in RULES}
    if not isinstance(given, Mapping):
        raise PolicyConfigError(f"{source}: must be a JSON object of policy name -> level or object")
    errors = []
    for name, value in given.items():
        if name != "all" and name not in rules:
            errors.append(f"{name}: no such policy in the pack (known: {', '.join(sorted(rules))})")
        else:
            errors += _entry_errors(name, value, rules.get(name))
    if errors:
        raise PolicyConfigError(f"{source}: " + "; ".join(errors))
    every = given.get("all")
    result = {n: PolicyConfig(every or r.default_level, r.defaults()) for n, r in rules.items()}
    for name, value in given.items():
        if name == "all":
            continue
        cfg, props = result[name], {"enforcementLevel": value} if isinstance(value, str) else dict(value)
        cfg.level = props.pop("enforcementLevel", None) or cfg.level
        cfg.properties.update(props)
    return result


def read_policy_config(path: Path) -> Any:
    """The file's JSON (an empty file is ``{}``); not validated yet (:func:`reconcile` does that)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise PolicyConfigError(f"cannot read policy config {path}: {exc.strerror}") from None
    try:
        return json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise PolicyConfigError(f"{path}: not valid JSON ({exc})") from None


def load_policy_config(path: Path) -> dict[str, PolicyConfig]:
    """What the file itself sets, validated: name -> level (None when unset) and properties."""
    given = read_policy_config(path)
    reconcile(given, str(path))
    out = {}
    for name, value in given.items():
        props = {"enforcementLevel": value} if isinstance(value, str) else dict(value)
        out[name] = PolicyConfig(props.pop("enforcementLevel", None), props)
    return out


def stack_config(stack: str) -> dict[str, PolicyConfig]:
    """The reconciled config of ``stack`` (registry defaults when it has no file)."""
    path = default_config_path(stack)
    return reconcile(read_policy_config(path), str(path)) if path.exists() else reconcile({})
