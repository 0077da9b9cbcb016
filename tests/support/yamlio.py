"""YAML parsing for tests that read whole renders: PyYAML's safe loader on libyaml's C parser.

``load``/``load_all`` give the same data as ``yaml.safe_load``/``yaml.safe_load_all`` (the same
SafeConstructor and resolver; only the scanner and parser are C), several times faster: the pure-Python
parser was most of the unit tier's time on the rendered manifests and the vendored CRDs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    """One document, as ``yaml.safe_load``."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader (C or Python)


def load_all(text: str) -> Iterator[Any]:
    """Every document of a stream, lazily, as ``yaml.safe_load_all``."""
    return yaml.load_all(text, Loader=_Loader)
