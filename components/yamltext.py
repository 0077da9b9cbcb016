"""YAML text for every generated file, in one place, through libyaml (PyYAML's C emitter/parser).

Keys keep the builder's order, multi-line strings become literal blocks (PromQL, HCL, scripts read as
written), no ``&anchors``/``*aliases`` (every file reads on its own). The C implementation is several
times faster than PyYAML's pure-Python one, which matters to the offline render's budget.
"""

from __future__ import annotations

from typing import Any

import yaml

_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Dumper(_BaseDumper):  # type: ignore[misc,valid-type]
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: Any, value: str) -> Any:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def dump(data: Any, *, width: int = 120) -> str:
    """YAML text of ``data``: block style, insertion order, literal blocks for multi-line strings."""
    return str(
        yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=width, allow_unicode=True)
    )


def dump_all(docs: Any, *, width: int = 120) -> str:
    """Multi-document YAML, every document introduced by ``---``."""
    return str(
        yaml.dump_all(
            docs,
            Dumper=_Dumper,
            sort_keys=False,
            default_flow_style=False,
            width=width,
            allow_unicode=True,
            explicit_start=True,
        )
    )


def load_all(text: str) -> list[Any]:
    """Parse every document of a multi-document stream (safe; libyaml when available)."""
    return list(yaml.load_all(text, Loader=_BaseLoader))


def load(text: str) -> Any:
    """Parse one YAML document (safe: plain data only)."""
    return yaml.load(text, Loader=_BaseLoader)  # noqa: S506 - a SafeLoader (C or Python)
