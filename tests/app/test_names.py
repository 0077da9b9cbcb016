"""The metric names copied into the container package equal the shared conventions: they cannot drift."""

from __future__ import annotations

from app.orders_api import names
from components import conventions

COPIED = [
    "METRIC_REQUESTS",
    "METRIC_DURATION",
    "METRIC_IN_FLIGHT",
    "METRIC_BUILD_INFO",
    "METRIC_ORDERS_CREATED",
    "DURATION_BUCKETS",
]


def test_copied_names_equal_conventions() -> None:
    for name in COPIED:
        assert getattr(names, name) == getattr(conventions, name), name


def test_every_metric_constant_of_conventions_is_copied() -> None:
    shared = {n for n in dir(conventions) if n.startswith("METRIC_")} | {"DURATION_BUCKETS"}
    assert shared == set(COPIED), "a metric was added to components/conventions.py: copy it to names.py"


def test_buckets_are_dense_around_the_latency_objective() -> None:
    buckets = names.DURATION_BUCKETS
    assert list(buckets) == sorted(buckets)
    objective = conventions.P95_LATENCY_OBJECTIVE_SECONDS
    assert objective in buckets
    near = [b for b in buckets if 0.3 <= b <= 0.75]
    assert len(near) >= 5
