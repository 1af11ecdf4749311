"""Frozen dataclasses that cross the trading domain's boundary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from dsta.kernel.errors import InputError


@dataclass(frozen=True)
class MarkPriceView:
    exchange: str
    symbol: str
    price: Decimal
    as_of: datetime


@dataclass(frozen=True)
class PnlLine:
    """P&L of one market now, or the portfolio total (exchange and symbol "")."""

    exchange: str
    symbol: str
    quantity: Decimal
    mark_price: Decimal | None
    realised_pnl: Decimal
    unrealised_pnl: Decimal
    fees: Decimal


@dataclass(frozen=True)
class PositionView:
    exchange: str
    symbol: str
    quantity: Decimal
    average_price: Decimal
    realised_pnl: Decimal
    fees: Decimal
    updated_at: datetime


@dataclass(frozen=True)
class OrderView:
    order_id: int
    client_order_id: str
    exchange: str
    symbol: str
    side: str
    order_type: str
    quantity: Decimal
    price: Decimal | None
    status: str
    filled_quantity: Decimal
    created_at: datetime


@dataclass(frozen=True)
class RiskViolationView:
    rule: str
    message: str
    symbol: str
    created_at: datetime


@dataclass(frozen=True)
class RiskState:
    """The limits in force, the kill switch (circuit breaker) and the latest violations."""

    limits_version: int
    max_order_notional: Decimal
    max_position_notional: Decimal
    max_total_exposure: Decimal
    max_open_orders: int
    max_orders_per_minute: int
    max_drawdown_pct: Decimal
    circuit_breaker_open: bool
    circuit_breaker_reason: str
    circuit_breaker_changed_at: datetime | None
    recent_violations: tuple[RiskViolationView, ...]


@dataclass(frozen=True)
class BotSignalView:
    bar_time: datetime
    target: Decimal | None
    action: str  # what the bot did with it ("order", "hold", "stale", "paused", ...; "" not decided yet)
    client_order_id: str


@dataclass(frozen=True)
class BotView:
    """A strategy instance as a bot: its state, allocation, own position and P&L, latest signals."""

    instance_id: int
    name: str
    strategy: str
    strategy_version: str
    model_name: str  # the ml model an ml_signal instance trades on; "" for every other strategy
    exchange: str
    symbol: str
    timeframe: str
    mode: str
    venue: str
    state: str
    armed: bool
    capital: Decimal
    position: Decimal
    equity: Decimal
    realised_pnl: Decimal
    unrealised_pnl: Decimal
    fees: Decimal
    last_signals: tuple[BotSignalView, ...]
    cash: Decimal  # the allocation plus what its fills paid and received
    average_price: Decimal
    mark: Decimal | None  # the last close it decided on (what equity and unrealised P&L are valued at)
    created_by_id: int | None


class BotRefused(InputError):
    """A bot state change that is not allowed now; `errors` maps each field to its message."""
