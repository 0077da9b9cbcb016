"""The one duration parser: Prometheus/Go-style durations (``30s``, ``15d``, ``1h30m``) in seconds.

Each reader keeps its own message and the units its consumer accepts (Prometheus' scrape settings take
``ms``..``h`` only; Vault's TTLs no ``y``), and they all parse here.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_PART = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")  # "ms" before "m"


def seconds(value: Any, *, units: Collection[str] = UNIT_SECONDS, single: bool = False) -> float:
    """Seconds in ``value``: one or more ``<integer><unit>`` parts with units from ``units`` (exactly one
    part when ``single``); ``ValueError`` for anything else (an empty text, a sign, a space, a fraction)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{value!r} is not a duration")
    pos, total, parts = 0, 0.0, 0
    for m in _PART.finditer(value):
        if m.start() != pos or m.group(2) not in units:
            break
        total += int(m.group(1)) * UNIT_SECONDS[m.group(2)]
        pos, parts = m.end(), parts + 1
    if pos != len(value) or (single and parts != 1):
        raise ValueError(f"{value!r} is not a duration")
    return total
