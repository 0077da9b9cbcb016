"""``audit: {<path>: {type: file, description?, options: {file_path}}}``: the body of ``sys/audit/<path>``.

The schema checks everything (type ``file``, an absolute ``file_path`` or ``stdout``); a path is a map key,
so it cannot be used twice.
"""

from __future__ import annotations

from typing import Any

DEFAULT_FILE = "/vault/audit/audit.log"


def file_device(file_path: str = DEFAULT_FILE, *, description: str = "File audit log") -> dict[str, Any]:
    """A file audit device entry."""
    return {"type": "file", "description": description, "options": {"file_path": file_path}}
