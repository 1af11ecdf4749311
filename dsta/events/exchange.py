"""Events the exchange domain publishes (versioned); `dsta/exchange/events.py` re-exports them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from dsta.kernel.events import DomainEvent


@dataclass(frozen=True)
class OrderUpdated(DomainEvent):
    event_name = "exchange.order_updated"
    event_version = 1

    venue: str
    client_order_id: str
    exchange_order_id: str
    symbol: str
    side: str
    order_type: str
    status: str
    amount: Decimal
    filled: Decimal
    average_price: Decimal | None
    updated_at: datetime

    def aggregate_key(self) -> str:
        return f"order:{self.venue}:{self.client_order_id}"


@dataclass(frozen=True)
class FillRecorded(DomainEvent):
    event_name = "exchange.fill"
    event_version = 1

    venue: str
    fill_id: str
    client_order_id: str
    exchange_order_id: str
    symbol: str
    side: str
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_asset: str
    is_maker: bool
    timestamp: datetime

    def aggregate_key(self) -> str:
        # same key as the order's updates, so a consumer sees a fill and its order update in commit order
        return f"order:{self.venue}:{self.client_order_id}"
