"""Events the trading domain publishes (versioned); `dsta/trading/events.py` re-exports them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from dsta.kernel.events import DomainEvent


@dataclass(frozen=True)
class RiskViolationRaised(DomainEvent):
    event_name = "trading.risk_violation"
    event_version = 1

    violation_id: int
    rule: str
    message: str
    symbol: str
    limit: str
    actual: str

    def aggregate_key(self) -> str:
        return "risk"


@dataclass(frozen=True)
class CircuitBreakerChanged(DomainEvent):
    event_name = "trading.circuit_breaker_changed"
    event_version = 1

    is_open: bool
    reason: str

    def aggregate_key(self) -> str:
        return "risk"


@dataclass(frozen=True)
class RiskLimitsChanged(DomainEvent):
    event_name = "trading.risk_limits_changed"
    event_version = 1

    version: int
    changed_by_id: int | None

    def aggregate_key(self) -> str:
        return "risk"


@dataclass(frozen=True)
class SignalEmitted(DomainEvent):
    event_name = "trading.signal"
    event_version = 1

    instance_id: int
    strategy: str
    symbol: str
    timeframe: str
    bar_time: datetime
    target: Decimal | None

    def aggregate_key(self) -> str:
        return f"strategy:{self.instance_id}"


@dataclass(frozen=True)
class OrderStatusChanged(DomainEvent):
    event_name = "trading.order_status"
    event_version = 1

    order_id: int
    client_order_id: str
    exchange: str
    symbol: str
    side: str
    from_status: str
    to_status: str
    reason: str
    filled_quantity: Decimal
    average_price: Decimal | None

    def aggregate_key(self) -> str:
        return f"order:{self.order_id}"


@dataclass(frozen=True)
class BotStateChanged(DomainEvent):
    """A strategy instance started, paused or stopped. ml follows it: an ml_signal instance's model predicts
    live on the instance's market while the instance is not stopped, whichever market the model was trained on."""

    event_name = "trading.bot_state_changed"
    event_version = 1

    instance_id: int
    strategy: str
    model_name: str  # "" unless the strategy is ml_signal
    exchange: str
    symbol: str
    timeframe: str
    state: str  # running | paused | stopped

    def aggregate_key(self) -> str:
        return f"strategy:{self.instance_id}"
