"""The render's fast writers produce exactly what the standard library writes."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from tools.render import json_text


def _value(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(9 if depth < 5 else 6)
    if kind == 0:
        return rng.choice(["", "plain", 'quote"back\\slash', "ünï\u2028code", "\n\t", "🙂", "</script>"])
    if kind == 1:
        return rng.randint(-(2**70), 2**70)
    if kind == 2:
        return rng.choice([0.1, -0.0, 1e300, 2.5e-12, 3.0])
    if kind == 3:
        return rng.choice([True, False])
    if kind == 4:
        return None
    if kind == 5:
        return "x" * rng.randint(0, 50)
    if kind in (6, 7):
        return {
            rng.choice(["a", "b", "ç", "k k", ""]) + str(i): _value(rng, depth + 1) for i in range(rng.randint(0, 4))
        }
    return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]


@pytest.mark.parametrize("seed", range(200))
def test_json_text_is_json_dumps_with_indent_1(seed: int) -> None:
    value = _value(random.Random(seed), 0)
    assert json_text(value) == json.dumps(value, indent=1)


@pytest.mark.parametrize(
    "value",
    [(1, 2), {"a": (1,)}, {1: "int key"}, {None: 1}, float("nan"), [float("inf")], {"x": [float("-inf")]}, True],
)
def test_json_text_leaves_other_values_to_json(value: Any) -> None:
    assert json_text(value) == json.dumps(value, indent=1)
