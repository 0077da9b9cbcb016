"""What every section module shares: the error type, the one duration parser, the problem list."""

from __future__ import annotations

from typing import Any

from components import durations

_VAULT_UNITS = ("ms", "s", "m", "h", "d", "w")


class ConfigurationError(ValueError):
    """Invalid Vault configuration; ``problems`` holds one message per problem, each naming its field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid Vault configuration ({len(problems)} problem(s)):\n{lines}")


def parse_duration(value: str) -> float:
    """Seconds in a Go-style duration (``2160h``, ``90d``, ``1h30m``, ``45s``); ``ValueError`` otherwise."""
    return durations.seconds(value, units=_VAULT_UNITS)


def seconds(value: Any) -> float | None:
    """A duration field's seconds: an integer as is, a string through ``parse_duration``; None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return float(value)
    try:
        return parse_duration(value)
    except ValueError:
        return None


def format_duration(seconds: float) -> str:
    """``2160h`` style (hours when whole, else seconds): what Vault and the rotation report print."""
    s = int(seconds)
    return f"{s // 3600}h" if s % 3600 == 0 and s else f"{s}s"


class Problems:
    """Problems found so far, each ``<json path>: <message>``."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, msg: str) -> None:
        item = f"{where}: {msg}"
        if item not in self.items:  # a schema error can reach the same field by two routes
            self.items.append(item)


def path_of(*parts: object) -> str:
    """The JSON path ``auth.kubernetes.roles.orders-api.token_ttl`` (list indexes as ``[i]``)."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out
