"""The FastAPI application: orders API, probes, metrics, fault injection.

Endpoints::

    POST /orders                    create (Authorization: Bearer <api_key>) -> 201, Location header
    GET  /orders?limit&offset&customer_id   list, newest first
    GET  /orders/{order_id}         one order, 404 when unknown, 422 when not a UUID
    POST /orders/{order_id}/cancel  cancel (authenticated) -> 200, 404, 409 when already cancelled
    GET  /healthz                   liveness: the process serves requests
    GET  /readyz                    readiness: secrets loaded and Vault not failing beyond the grace period
    GET  /metrics                   Prometheus exposition

Faults (``FAULT_ERROR_RATIO``, ``FAULT_LATENCY_SECONDS``) apply to the ``/orders`` API only, never to the
probes or ``/metrics``: a canary must fail its analysis, not its liveness probe.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .metrics import Metrics
from .middleware import CompletedRequests, ObservabilityMiddleware
from .orders import ConflictError, Order, OrderIn, OrderPage, OrderRepository
from .secrets import SecretStore, secret_store_for
from .settings import Settings

log = logging.getLogger("orders_api")

API_KEY_NAMES = ("api_key", "api_key_previous")  # the previous key stays valid during a rotation


def create_app(
    settings: Settings,
    store: SecretStore | None = None,
    metrics: Metrics | None = None,
    rng: random.Random | None = None,
    repository: OrderRepository | None = None,
) -> FastAPI:
    """Build the application; its store, metrics and repository are reachable on ``app.state``."""
    store = store if store is not None else secret_store_for(settings)
    metrics = metrics if metrics is not None else Metrics(settings.version, settings.commit)
    repo = repository if repository is not None else OrderRepository()
    chance = rng or random.Random()  # noqa: S311 - fault injection, not cryptography
    completed = CompletedRequests(metrics)

    lifespan = _lifespan(settings, store, completed)
    app = FastAPI(title="orders-api", version=settings.version, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.store = store
    app.state.metrics = metrics
    app.state.repository = repo

    app.include_router(_orders_router(repo, metrics, _fault_injector(settings, chance), _api_key_guard(store)))
    _add_operational_routes(app, store, metrics)
    if settings.instrumentation:
        app.add_middleware(ObservabilityMiddleware, completed=completed)
    return app


def _lifespan(
    settings: Settings, store: SecretStore, completed: CompletedRequests
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start-up and shutdown: log the configuration (and any active fault injection), run the secret store."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        log.info(
            "orders-api starting",
            extra={
                "version": settings.version,
                "commit": settings.commit,
                "instrumentation": "on" if settings.instrumentation else "off",
                "fault_error_ratio": settings.fault_error_ratio,
                "fault_latency_seconds": settings.fault_latency_seconds,
            },
        )
        if settings.fault_error_ratio or settings.fault_latency_seconds:
            log.warning(
                "fault injection is active",
                extra={
                    "fault_error_ratio": settings.fault_error_ratio,
                    "fault_latency_seconds": settings.fault_latency_seconds,
                },
            )
        store.start()
        completed.attach()
        try:
            yield
        finally:
            completed.detach()
            store.stop()
            log.info("orders-api stopped")

    return lifespan


def _fault_injector(settings: Settings, chance: random.Random) -> Callable[[], Awaitable[None]]:
    async def inject_faults() -> None:
        if settings.fault_latency_seconds > 0:
            await asyncio.sleep(settings.fault_latency_seconds)
        if settings.fault_error_ratio > 0 and chance.random() < settings.fault_error_ratio:
            raise HTTPException(status_code=500, detail="injected fault (FAULT_ERROR_RATIO)")

    return inject_faults


def _api_key_guard(store: SecretStore) -> Callable[[Request], Awaitable[None]]:
    """A dependency that accepts a bearer key equal to the current or the previous API key."""

    async def require_api_key(request: Request) -> None:
        snapshot = store.current()
        if snapshot is None:
            raise HTTPException(status_code=503, detail="secrets not loaded yet")
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        unauthorized = HTTPException(
            status_code=401, detail="a valid bearer API key is required", headers={"WWW-Authenticate": "Bearer"}
        )
        if scheme.lower() != "bearer" or not presented:
            raise unauthorized
        given = presented.strip().encode()
        ok = False
        for name in API_KEY_NAMES:
            key = snapshot.get(name)
            if key is not None and hmac.compare_digest(key.reveal().encode(), given):
                ok = True
        if not ok:
            raise unauthorized

    return require_api_key


def _orders_router(
    repo: OrderRepository,
    metrics: Metrics,
    inject_faults: Callable[[], Awaitable[None]],
    require_api_key: Callable[[Request], Awaitable[None]],
) -> APIRouter:
    api = APIRouter(prefix="/orders", tags=["orders"], dependencies=[Depends(inject_faults)])
    authenticated = [Depends(require_api_key)]

    @api.post("", status_code=201, response_model=Order, dependencies=authenticated)
    async def create_order(order: OrderIn, response: Response) -> Order:
        created = repo.create(order)
        metrics.orders_created.inc()
        response.headers["Location"] = f"/orders/{created.id}"
        log.info(
            "order created",
            extra={"order_id": str(created.id), "items": len(created.items), "total_cents": created.total_cents},
        )
        return created

    @api.get("", response_model=OrderPage)
    async def list_orders(
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        customer_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> OrderPage:
        return repo.page(limit, offset, customer_id)

    @api.get("/{order_id}", response_model=Order)
    async def get_order(order_id: uuid.UUID) -> Order:
        order = repo.get(order_id)
        if order is None:
            raise HTTPException(status_code=404, detail=f"order {order_id} not found")
        return order

    @api.post("/{order_id}/cancel", response_model=Order, dependencies=authenticated)
    async def cancel_order(order_id: uuid.UUID) -> Order:
        try:
            order = repo.cancel(order_id)
        except ConflictError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        if order is None:
            raise HTTPException(status_code=404, detail=f"order {order_id} not found")
        log.info("order cancelled", extra={"order_id": str(order_id)})
        return order

    return api


def _add_operational_routes(app: FastAPI, store: SecretStore, metrics: Metrics) -> None:
    """Liveness, readiness (the secrets are loaded) and the Prometheus metrics."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        ready, detail = store.readiness()
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "secrets": detail}, status_code=200 if ready else 503
        )

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
