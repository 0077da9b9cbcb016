"""``yamltext.FastRepresenter`` writes byte for byte what PyYAML's own representer writes."""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml

from components import yamltext
from components.ci.workflows import common as workflows


class _PlainDumper(yamltext._BaseDumper):  # type: ignore[misc,name-defined]
    """yamltext's dumper without the fast representer."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_PlainDumper.add_representer(str, yamltext._str)


class _AliasingDumper(yamltext.FastRepresenter, yaml.SafeDumper):  # type: ignore[misc]
    """The fast representer on a dumper that keeps aliases: it must defer to PyYAML for collections."""


def _value(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return rng.choice(["", "yes", "on", "null", "1.5", "a: b", "- x", "line\nnext\n", "plain", "ü", "'q'", "#"])
    if kind == 1:
        return rng.randint(-(10**12), 10**12)
    if kind == 2:
        return rng.choice([0.5, 1e17, -2.0, 3.25e-9, float("inf")])
    if kind == 3:
        return rng.choice([True, False])
    if kind == 4:
        return None
    if kind == 5:
        return "x" * rng.randint(0, 200)
    if kind in (6, 7):
        return {f"k{i}{rng.choice(['', ':', ' x'])}": _value(rng, depth + 1) for i in range(rng.randint(0, 4))}
    return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]


DOCS = [_value(random.Random(seed), 0) for seed in range(300)]


@pytest.mark.parametrize("doc", DOCS)
def test_fast_representer_writes_what_pyyaml_writes(doc: Any) -> None:
    options: dict[str, Any] = {"sort_keys": False, "default_flow_style": False, "width": 120, "allow_unicode": True}
    assert yamltext.dump(doc) == yaml.dump(doc, Dumper=_PlainDumper, **options)
    assert yamltext.dump_all([doc, doc]) == yaml.dump_all(
        [doc, doc], Dumper=_PlainDumper, explicit_start=True, **options
    )


def test_shared_objects_still_become_aliases_where_the_dumper_keeps_them() -> None:
    shared = {"a": [1, 2]}
    doc = {"x": shared, "y": shared, "z": ["s", "s"]}
    assert yaml.dump(doc, Dumper=_AliasingDumper) == yaml.dump(doc, Dumper=yaml.SafeDumper)
    assert "&id001" in yaml.dump(doc, Dumper=_AliasingDumper)


def test_workflow_dumper_is_the_fast_one() -> None:
    assert issubclass(workflows._Dumper, yamltext.FastRepresenter)
