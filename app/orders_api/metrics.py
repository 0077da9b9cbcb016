"""Prometheus metrics of the service, in a registry of its own (one per app instance)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

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
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from .logs import AccessEntry
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


class _BeforeCollect(Collector):
    """Registered first in the registry: collecting it runs the hooks that count queued requests, so
    that the metrics collected after it include every request completed before the scrape."""

    def __init__(self, hooks: list[Callable[[], None]]) -> None:
        self._hooks = hooks

    def collect(self) -> Iterable[Metric]:
        for hook in tuple(self._hooks):
            hook()
        return ()


class Metrics:
    """The service's metrics. Label children are cached: their label sets are bounded by construction
    (method: 8 values, route: the route templates plus ``<unmatched>``, status: HTTP codes).

    Requests are counted in batches (:meth:`count`) by the middleware's queue of completed requests,
    which registers itself in :attr:`before_collect`: a scrape always sees every completed request."""

    def __init__(
        self, version: str, commit: str, registry: CollectorRegistry | None = None, process_metrics: bool = True
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.before_collect: list[Callable[[], None]] = []
        self.registry.register(_BeforeCollect(self.before_collect))
        if process_metrics:
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                self.registry.register(collector)
        self.requests = Counter(
            METRIC_REQUESTS,
            "HTTP requests served, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            METRIC_DURATION,
            "Time to serve an HTTP request, by route template.",
            ["method", "route"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(METRIC_IN_FLIGHT, "HTTP requests being served right now.", registry=self.registry)
        # A plain integer read at scrape time: requests are counted on the event loop's one thread, so
        # no lock is needed on the hot path.
        self.in_flight_count = 0
        self.in_flight.set_function(lambda: self.in_flight_count)
        self.build_info = Gauge(
            METRIC_BUILD_INFO,
            "Always 1; the labels say which build is running.",
            ["version", "commit"],
            registry=self.registry,
        )
        self.build_info.labels(version=version, commit=commit).set(1)
        self.orders_created = Counter(METRIC_ORDERS_CREATED, "Orders created.", registry=self.registry)
        self._request_children: dict[tuple[str, str, int], MetricWrapperBase] = {}
        self._duration_children: dict[tuple[str, str], MetricWrapperBase] = {}

    def count(self, requests: Sequence[AccessEntry]) -> None:
        """Count completed requests ``(method, route, path, status, seconds, ...)`` into the request
        counter (one ``inc`` per label set and batch) and the duration histogram."""
        tally: dict[tuple[str, str, int], int] = {}
        histograms = self._duration_children
        for method, route, _path, status, seconds, _request_id, _finished in requests:
            key = (method, route, status)
            tally[key] = tally.get(key, 0) + 1
            histogram = histograms.get((method, route))
            if histogram is None:
                histogram = histograms[(method, route)] = self.duration.labels(method=method, route=route)
            histogram.observe(seconds)  # type: ignore[attr-defined]
        counters = self._request_children
        for key, n in tally.items():
            counter = counters.get(key)
            if counter is None:
                method, route, status = key
                counter = counters[key] = self.requests.labels(method=method, route=route, status=str(status))
            counter.inc(n)  # type: ignore[attr-defined]
