"""Seeding KV v2 secrets and reporting the ones older than their rotation period.

Seed document (YAML or JSON, from a file or standard input; it holds secrets: keep it out of the repo
and delete it after use)::

    secrets:
      - path: apps/orders-api            # relative to the KV mount
        data: {api_key: "...", database_url: "..."}
        rotation_period: 2160h           # optional; default: the configuration's kv.rotation_period
      - path: ci/registry
        data: {token: "..."}

Every entry is validated before the first write; messages name the entry and the key, never a value.
Each written secret gets ``custom_metadata.rotation_period``; an existing secret is kept unless
``--overwrite`` (which writes a new version: that is how a secret is rotated).

The rotation report lists every secret under the mount (recursively), takes the age of its current
version and flags it when older than its ``rotation_period`` custom metadata (or the default).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import hvac
import hvac.exceptions
import yaml

from components.vault.declarative import ROTATION_METADATA_KEY, format_duration, parse_duration
from tools.vault.connection import EXIT_USAGE, ToolError

_PATH = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
MANAGED_BY = "tools.vault"


@dataclass(frozen=True)
class SeedEntry:
    path: str
    data: dict[str, str]
    rotation_period: str


def _seed_data(data: Mapping[Any, Any], where: str, problems: list[str]) -> dict[str, str]:
    """The entry's string values by key; a bad key or value is a problem (the value never shown)."""
    clean: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not _KEY.match(key):
            problems.append(f"{where}.data: key {key!r}; accepted: letters, digits, . _ - (1-128 characters)")
        elif not isinstance(value, str) or not value:
            problems.append(
                f"{where}.data.{key}: the value must be a non-empty string (quote numbers); value not shown"
            )
        else:
            clean[key] = value
    return clean


def _seed_period(period: Any, where: str, problems: list[str]) -> str | None:
    """The rotation period in ``2160h`` form, or None (a problem added)."""
    try:
        seconds = parse_duration(period)
        if seconds < 1:
            raise ValueError(period)
    except ValueError:
        problems.append(f"{where}.rotation_period: {period!r}; accepted: a duration such as 2160h or 90d")
        return None
    return format_duration(seconds)


def parse_seed(text: str, default_period: str) -> list[SeedEntry]:
    """Validate a seed document completely; ``ToolError`` lists every problem (no values shown)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ToolError(f"seed document: not valid YAML/JSON{where}", EXIT_USAGE) from None
    problems: list[str] = []
    if not isinstance(doc, Mapping) or set(doc) != {"secrets"} or not isinstance(doc["secrets"], list):
        raise ToolError(
            "seed document: accepted: a mapping with one key, 'secrets', holding a list of "
            "{path, data, rotation_period?}",
            EXIT_USAGE,
        )
    entries: list[SeedEntry] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc["secrets"]):
        where = f"secrets[{i}]"
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: accepted: a mapping with path, data and optional rotation_period")
            continue
        unknown = set(raw) - {"path", "data", "rotation_period"}
        if unknown:
            problems.append(
                f"{where}: unknown key(s) {sorted(map(str, unknown))}; accepted: path, data, rotation_period"
            )
        path = raw.get("path")
        if not isinstance(path, str) or not _PATH.match(path) or ".." in path.split("/"):
            problems.append(
                f"{where}.path: {path!r}; accepted: a relative path such as apps/orders-api "
                "(letters, digits, . _ - and /)"
            )
            continue
        where = f"secrets[{i}] ({path})"
        if path in seen:
            problems.append(f"{where}: path appears twice")
        seen.add(path)
        data = raw.get("data")
        if not isinstance(data, Mapping) or not data:
            problems.append(f"{where}.data: accepted: a non-empty mapping of key -> string value")
            continue
        clean = _seed_data(data, where, problems)
        period = _seed_period(raw.get("rotation_period", default_period), where, problems)
        if period is not None:
            entries.append(SeedEntry(path, clean, period))
    if problems:
        raise ToolError("invalid seed document (nothing written): " + " | ".join(problems), EXIT_USAGE)
    if not entries:
        raise ToolError("seed document: 'secrets' is empty; nothing to write", EXIT_USAGE)
    return entries


def _exists(client: hvac.Client, mount: str, path: str) -> bool:
    try:
        meta = client.secrets.kv.v2.read_secret_metadata(path=path, mount_point=mount)
    except hvac.exceptions.InvalidPath:
        return False
    return bool((meta.get("data") or {}).get("current_version"))


def seed(client: hvac.Client, mount: str, entries: list[SeedEntry], *, overwrite: bool) -> list[str]:
    """Write the entries; returns one secret-free line per entry."""
    lines: list[str] = []
    for e in entries:
        if not overwrite and _exists(client, mount, e.path):
            lines.append(f"kept {mount}/{e.path}: exists (use --overwrite to write a new version)")
            continue
        resp = client.secrets.kv.v2.create_or_update_secret(
            path=e.path, secret=e.data, mount_point=mount, cas=None if overwrite else 0
        )
        version = (resp.get("data") or {}).get("version", "?")
        client.secrets.kv.v2.update_metadata(
            path=e.path,
            mount_point=mount,
            custom_metadata={ROTATION_METADATA_KEY: e.rotation_period, "managed-by": MANAGED_BY},
        )
        lines.append(
            f"wrote {mount}/{e.path}: version {version}, keys {', '.join(sorted(e.data))}, "
            f"rotation_period {e.rotation_period}"
        )
    return lines


# --------------------------------------------------------------------------------------------------
def parse_time(value: str) -> dt.datetime:
    """Vault's RFC 3339 timestamps (nanoseconds allowed)."""
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", value)
    if not m:
        raise ValueError(f"unrecognised timestamp {value!r}")
    frac = (m.group(2) or ".0")[:7]
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    return dt.datetime.fromisoformat(m.group(1) + frac + tz)


def list_paths(client: hvac.Client, mount: str, prefix: str = "") -> list[str]:
    """Every secret path under ``prefix`` (recursive, sorted)."""
    try:
        resp = client.secrets.kv.v2.list_secrets(path=prefix, mount_point=mount)
    except hvac.exceptions.InvalidPath:
        return []
    out: list[str] = []
    for key in (resp.get("data") or {}).get("keys", []):
        full = f"{prefix.rstrip('/')}/{key}" if prefix else key
        if key.endswith("/"):
            out += list_paths(client, mount, full.rstrip("/"))
        else:
            out.append(full)
    return sorted(out)


def rotation_report(
    client: hvac.Client, mount: str, default_period: str, *, prefix: str = "", now: dt.datetime | None = None
) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    rows: list[dict[str, Any]] = []
    for path in list_paths(client, mount, prefix):
        meta = client.secrets.kv.v2.read_secret_metadata(path=path, mount_point=mount).get("data") or {}
        current = meta.get("current_version") or 0
        version = (meta.get("versions") or {}).get(str(current)) or {}
        if not current or version.get("deletion_time") or version.get("destroyed"):
            continue  # nothing readable to rotate
        custom = meta.get("custom_metadata") or {}
        period_text = custom.get(ROTATION_METADATA_KEY) or default_period
        row: dict[str, Any] = {
            "path": f"{mount}/{path}",
            "version": current,
            "rotation_period": period_text,
            "created_time": version.get("created_time"),
        }
        try:
            created = parse_time(str(version.get("created_time")))
            period = parse_duration(period_text)
        except ValueError:
            row.update(
                age_seconds=None,
                overdue=True,
                due_time=None,
                problem=f"invalid rotation_period or timestamp ({period_text!r}); fix the metadata",
            )
            rows.append(row)
            continue
        age = (now - created).total_seconds()
        due = created + dt.timedelta(seconds=period)
        row.update(age_seconds=int(age), overdue=age > period, due_time=due.isoformat().replace("+00:00", "Z"))
        rows.append(row)
    return {
        "mount": mount,
        "checked_at": now.isoformat().replace("+00:00", "Z"),
        "default_rotation_period": default_period,
        "secrets": rows,
        "overdue": sum(1 for r in rows if r["overdue"]),
    }


def _human(seconds: float) -> str:
    seconds = int(abs(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def format_report(report: dict[str, Any]) -> str:
    rows = report["secrets"]
    if not rows:
        return f"no secrets under {report['mount']}/"
    width = max(len(r["path"]) for r in rows)
    lines = [f"{'PATH':<{width}}  {'VERSION':>7}  {'AGE':>6}  {'PERIOD':>8}  STATUS"]
    for r in rows:
        if r["age_seconds"] is None:
            status, age = f"OVERDUE: {r['problem']}", "?"
        else:
            age = _human(r["age_seconds"])
            left = parse_duration(r["rotation_period"]) - r["age_seconds"]
            status = f"OVERDUE by {_human(left)}" if r["overdue"] else f"ok ({_human(left)} left)"
        lines.append(f"{r['path']:<{width}}  {r['version']:>7}  {age:>6}  {r['rotation_period']:>8}  {status}")
    lines.append(f"{len(rows)} secret(s), {report['overdue']} overdue")
    return "\n".join(lines)
