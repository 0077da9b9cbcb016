"""The format of ``.trivyignore.yaml``: every accepted finding carries an id, a reason and an expiry.

Trivy's YAML ignore file (``trivyignores`` in trivy-action) has four lists, ``vulnerabilities``,
``misconfigurations``, ``secrets`` and ``licenses``; an entry has ``id``, optional ``paths`` / ``purls``,
``statement`` and ``expired_at`` (Trivy stops applying an entry after that date). This project requires
``statement`` and ``expired_at`` on every entry, and an expiry at most ``MAX_DAYS`` after today, so an
accepted risk is always reviewed again. ``problems(doc, today)`` is pure; one message per problem, each
naming the list, the entry and the field.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

FILE = ".trivyignore.yaml"
LISTS = ("vulnerabilities", "misconfigurations", "secrets", "licenses")
ENTRY_KEYS = ("id", "paths", "purls", "statement", "expired_at")
MAX_DAYS = 90
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{1,80}$")


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def problems(doc: Any, today: dt.date) -> list[str]:
    """Every problem of a parsed ``.trivyignore.yaml`` (empty: the file is valid on ``today``)."""
    if doc is None:
        return []
    if not isinstance(doc, dict):
        return [f"{FILE}: the top level must be a mapping of {', '.join(LISTS)}"]
    out = [
        f"{FILE}: {key!r} is not a Trivy ignore list; accepted: {', '.join(LISTS)}" for key in doc if key not in LISTS
    ]
    for name in LISTS:
        entries = doc.get(name) or []
        if not isinstance(entries, list):
            out.append(f"{FILE}: {name} must be a list of entries")
            continue
        for i, entry in enumerate(entries):
            where = f"{FILE}: {name}[{i}]"
            if not isinstance(entry, dict):
                out.append(f"{where}: an entry must be a mapping with id, statement and expired_at")
                continue
            where = f"{where} ({entry.get('id', '?')})"
            out += [
                f"{where}: unknown field {k!r}; accepted: {', '.join(ENTRY_KEYS)}" for k in entry if k not in ENTRY_KEYS
            ]
            if not isinstance(entry.get("id"), str) or not _ID.match(entry["id"]):
                out.append(f"{where}: id {entry.get('id')!r} is invalid; accepted: a finding id such as CVE-2024-1234")
            statement = entry.get("statement")
            if not isinstance(statement, str) or len(statement.strip()) < 10:
                out.append(f"{where}: statement is missing or too short; accepted: the reason the risk is accepted")
            expiry = _date(entry.get("expired_at"))
            if expiry is None:
                out.append(
                    f"{where}: expired_at {entry.get('expired_at')!r} is missing or invalid; accepted: a date "
                    f"YYYY-MM-DD at most {MAX_DAYS} days ahead"
                )
            elif expiry > today + dt.timedelta(days=MAX_DAYS):
                out.append(f"{where}: expired_at {expiry.isoformat()} is more than {MAX_DAYS} days ahead of {today}")
            for key in ("paths", "purls"):
                if key in entry and not (
                    isinstance(entry[key], list) and entry[key] and all(isinstance(p, str) for p in entry[key])
                ):
                    out.append(f"{where}: {key} must be a non-empty list of strings")
    return out


def expired(doc: Any, today: dt.date) -> list[str]:
    """Ids of entries whose expiry has passed (Trivy no longer applies them: the finding gates again)."""
    found = []
    for name in LISTS:
        for entry in (doc or {}).get(name) or []:
            expiry = _date(entry.get("expired_at")) if isinstance(entry, dict) else None
            if expiry is not None and expiry < today:
                found.append(f"{name}: {entry.get('id')} expired on {expiry.isoformat()}")
    return found
