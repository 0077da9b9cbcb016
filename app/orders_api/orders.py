"""The domain: orders with validated input, kept in a bounded in-memory repository.

State is per process (the platform exercises the service, not a database): the repository keeps the
newest ``capacity`` orders and evicts the oldest, so memory stays bounded under any load.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from enum import StrEnum
from itertools import islice
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_CAPACITY = 100_000

Sku = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{2,31}$", description="Stock keeping unit: BOOK-42")]


class OrderItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Sku
    quantity: int = Field(ge=1, le=1000)
    unit_price_cents: int = Field(ge=0, le=10_000_000)


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    currency: Literal["EUR", "USD", "GBP"]
    items: list[OrderItem] = Field(min_length=1, max_length=50)


class OrderStatus(StrEnum):
    CREATED = "created"
    CANCELLED = "cancelled"


class Order(BaseModel):
    id: uuid.UUID
    customer_id: str
    currency: str
    items: list[OrderItem]
    total_cents: int
    status: OrderStatus
    created_at: datetime


class OrderPage(BaseModel):
    items: list[Order]
    total: int
    limit: int
    offset: int


class ConflictError(Exception):
    pass


class OrderRepository:
    """Orders by id, newest last; at most ``capacity`` of them (the oldest are evicted)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._orders: OrderedDict[uuid.UUID, Order] = OrderedDict()

    def create(self, data: OrderIn) -> Order:
        order = Order(
            id=uuid.uuid4(),
            customer_id=data.customer_id,
            currency=data.currency,
            items=data.items,
            total_cents=sum(i.quantity * i.unit_price_cents for i in data.items),
            status=OrderStatus.CREATED,
            created_at=datetime.now(UTC),
        )
        self._orders[order.id] = order
        while len(self._orders) > self.capacity:
            self._orders.popitem(last=False)
        return order

    def get(self, order_id: uuid.UUID) -> Order | None:
        return self._orders.get(order_id)

    def page(self, limit: int, offset: int, customer_id: str | None = None) -> OrderPage:
        """Newest first."""
        if customer_id is None:
            items = list(islice(reversed(self._orders.values()), offset, offset + limit))
            return OrderPage(items=items, total=len(self._orders), limit=limit, offset=offset)
        selected = [o for o in reversed(self._orders.values()) if o.customer_id == customer_id]
        return OrderPage(items=selected[offset : offset + limit], total=len(selected), limit=limit, offset=offset)

    def cancel(self, order_id: uuid.UUID) -> Order | None:
        order = self._orders.get(order_id)
        if order is None:
            return None
        if order.status is OrderStatus.CANCELLED:
            raise ConflictError(f"order {order_id} is already cancelled")
        cancelled = order.model_copy(update={"status": OrderStatus.CANCELLED})
        self._orders[order_id] = cancelled
        return cancelled

    def __len__(self) -> int:
        return len(self._orders)
