"""Metric names and buckets, copied from ``components/conventions.py``.

The container image holds only this package, not the Pulumi program, so the names are copied here.
``tests/app/test_names.py`` asserts that every value equals ``components.conventions``: they cannot drift.
"""

from __future__ import annotations

from typing import Final

METRIC_REQUESTS: Final = "http_requests_total"  # labels: method, route, status
METRIC_DURATION: Final = "http_request_duration_seconds"  # histogram; labels: method, route
METRIC_IN_FLIGHT: Final = "http_requests_in_flight"  # gauge
METRIC_BUILD_INFO: Final = "app_build_info"  # gauge = 1; labels: version, commit
METRIC_ORDERS_CREATED: Final = "orders_created_total"  # business counter
DURATION_BUCKETS: Final = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.2,
    0.3,
    0.4,
    0.45,
    0.5,
    0.55,
    0.6,
    0.75,
    1.0,
    2.5,
    5.0,
    10.0,
)

# Route label of requests that matched no route: raw paths never become label values.
UNMATCHED_ROUTE: Final = "<unmatched>"
# Method label of any method outside this set (bounded cardinality against junk methods).
KNOWN_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD: Final = "OTHER"
