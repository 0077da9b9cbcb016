"""Prometheus metrics of the service, in a registry of its own (one per app instance)."""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.metrics import MetricWrapperBase

from .names import (
    DURATION_BUCKETS,
    KNOWN_METHODS,
    METRIC_BUILD_INFO,
    METRIC_DURATION,
    METRIC_IN_FLIGHT,
    METRIC_ORDERS_CREATED,
    METRIC_REQUESTS,
    OTHER_METHOD,
)

# ``*_created`` series double the series count and no rule or dashboard reads them.
disable_created_metrics()


def method_label(method: str) -> str:
    """The ``method`` label value: the method itself if standard, else ``OTHER``."""
    return method if method in KNOWN_METHODS else OTHER_METHOD


class Metrics:
    """The service's metrics. Label children are cached: their label sets are bounded by construction
    (method: 8 values, route: the route templates plus ``<unmatched>``, status: HTTP codes)."""

    def __init__(self, version: str, commit: str, registry: CollectorRegistry | None = None,
                 process_metrics: bool = True) -> None:
        self.registry = registry or CollectorRegistry()
        if process_metrics:
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                self.registry.register(collector)
        self.requests = Counter(METRIC_REQUESTS, "HTTP requests served, by route template and status.",
                                ["method", "route", "status"], registry=self.registry)
        self.duration = Histogram(METRIC_DURATION, "Time to serve an HTTP request, by route template.",
                                  ["method", "route"], buckets=DURATION_BUCKETS, registry=self.registry)
        self.in_flight = Gauge(METRIC_IN_FLIGHT, "HTTP requests being served right now.",
                               registry=self.registry)
        # A plain integer read at scrape time: requests are counted on the event loop's one thread, so
        # no lock is needed on the hot path.
        self.in_flight_count = 0
        self.in_flight.set_function(lambda: self.in_flight_count)
        self.build_info = Gauge(METRIC_BUILD_INFO, "Always 1; the labels say which build is running.",
                                ["version", "commit"], registry=self.registry)
        self.build_info.labels(version=version, commit=commit).set(1)
        self.orders_created = Counter(METRIC_ORDERS_CREATED, "Orders created.", registry=self.registry)
        self._request_children: dict[tuple[str, str, int], MetricWrapperBase] = {}
        self._duration_children: dict[tuple[str, str], MetricWrapperBase] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        counter = self._request_children.get(key)
        if counter is None:
            counter = self.requests.labels(method=method, route=route, status=str(status))
            self._request_children[key] = counter
        counter.inc()  # type: ignore[attr-defined]
        dkey = (method, route)
        histogram = self._duration_children.get(dkey)
        if histogram is None:
            histogram = self.duration.labels(method=method, route=route)
            self._duration_children[dkey] = histogram
        histogram.observe(seconds)  # type: ignore[attr-defined]
