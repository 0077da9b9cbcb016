"""YAML text for every generated file, in one place, through libyaml (PyYAML's C emitter/parser).

Keys keep the builder's order, multi-line strings become literal blocks (PromQL, HCL, scripts read as
written), no ``&anchors``/``*aliases`` (every file reads on its own). The C implementation is several
times faster than PyYAML's pure-Python one, which matters to the offline render's budget.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


class FastRepresenter:
    """PyYAML's representer, without its per-node overhead for plain data (a third of a 50-service render's
    YAML time): for a dumper that never writes aliases, with a fixed flow style and insertion order, dicts,
    lists and scalars become the very nodes ``SafeRepresenter`` builds (mapping items in order, the flow style
    it would set, the registered scalar representers); anything else goes to PyYAML as before."""

    yaml_representers: dict[Any, Any]
    default_flow_style: bool | None
    sort_keys: bool
    alias_key: int | None

    def represent_data(self, data: Any) -> Any:
        t = type(data)
        if t in _SCALAR_TYPES and self.ignore_aliases(data):
            self.alias_key = None  # as PyYAML sets it for an object it does not alias
            return self.yaml_representers[t](self, data)
        if (t is dict or t is list) and self._fast_collections(data):
            self.alias_key = None
            rep = self.represent_data
            if t is dict:
                return yaml.MappingNode(
                    _MAP_TAG, [(rep(k), rep(v)) for k, v in data.items()], flow_style=self.default_flow_style
                )
            return yaml.SequenceNode(_SEQ_TAG, [rep(v) for v in data], flow_style=self.default_flow_style)
        return super().represent_data(data)  # type: ignore[misc]

    def _fast_collections(self, data: Any) -> bool:
        reps = self.yaml_representers
        return (
            self.default_flow_style is not None
            and not self.sort_keys
            and reps.get(dict) is yaml.representer.SafeRepresenter.represent_dict
            and reps.get(list) is yaml.representer.SafeRepresenter.represent_list
            and self.ignore_aliases(data)
        )

    def ignore_aliases(self, data: Any) -> bool:
        return super().ignore_aliases(data)  # type: ignore[misc,no-any-return]


# The serializer asks the resolver about every scalar it writes (whether it may go unquoted); a render asks
# about the same few thousand label, key and path strings hundreds of thousands of times. The answer
# depends only on the value and the implicit flags (this dumper has no path resolvers).
_RESOLVED: dict[tuple[str, bool, bool], str] = {}
_RESOLVED_MAX = 200_000
_STR_TAG = "tag:yaml.org,2002:str"


class _Dumper(FastRepresenter, _BaseDumper):  # type: ignore[misc,valid-type]
    def ignore_aliases(self, data: Any) -> bool:
        return True

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is not yaml.ScalarNode:
            return str(super().resolve(kind, value, implicit))
        key = (value, implicit[0], implicit[1])  # libyaml passes the flags as a list
        tag = _RESOLVED.get(key)
        if tag is None:
            tag = str(super().resolve(kind, value, implicit))
            if len(_RESOLVED) < _RESOLVED_MAX:
                _RESOLVED[key] = tag
        return tag


def _str(dumper: Any, value: str) -> Any:
    style = "|" if "\n" in value else None
    if dumper.alias_key is None and dumper.default_style is None:
        return yaml.ScalarNode(_STR_TAG, value, style=style)  # what represent_scalar builds in this case
    return dumper.represent_scalar(_STR_TAG, value, style=style)


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


# --------------------------------------------------------------------------------------------------
# Configuration files as the Pulumi CLI reads them: Go's yaml.v3, i.e. YAML 1.2 core scalars (``yes``,
# ``no``, ``on``, ``off`` stay strings; no sexagesimal ``1:30``, no ``0777`` octal), and a key given twice
# in one mapping is an error, not "the last one wins".
# --------------------------------------------------------------------------------------------------
_CORE_RESOLVERS = (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
)


class ConfigLoader(_BaseLoader):  # type: ignore[misc]
    """PyYAML's SafeLoader (on libyaml's parser when available: the resolver and the constructor below
    still run in Python) with YAML 1.2 core scalars and duplicate keys refused."""

    yaml_implicit_resolvers: dict[Any, Any] = {}


for _tag, _pattern, _first in _CORE_RESOLVERS:
    ConfigLoader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


def _ints(loader: ConfigLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    return int(text, 16) if text.startswith("0x") else int(text, 10)


def _unique_mapping(loader: ConfigLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark, f"key {key!r} is given twice", key_node.start_mark
            )
        seen[key] = loader.construct_object(value_node, deep=deep)  # type: ignore[no-untyped-call]
    return seen


ConfigLoader.add_constructor("tag:yaml.org,2002:int", _ints)  # type: ignore[arg-type]
ConfigLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)  # type: ignore[arg-type]


def load_config(text: str) -> Any:
    """A configuration file (stack file, service definition) read like the Pulumi CLI reads its YAML."""
    return yaml.load(text, Loader=ConfigLoader)  # noqa: S506 - a SafeLoader subclass
