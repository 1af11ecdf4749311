"""The events the trading domain publishes: declared in `dsta/events/trading.py` (layer-neutral, so a domain
below this one may subscribe by class), re-exported here for this domain and its consumers."""

from __future__ import annotations

from dsta.events.trading import (
    BotStateChanged,
    CircuitBreakerChanged,
    OrderStatusChanged,
    RiskLimitsChanged,
    RiskViolationRaised,
    SignalEmitted,
)

__all__ = [
    "RiskViolationRaised",
    "CircuitBreakerChanged",
    "RiskLimitsChanged",
    "SignalEmitted",
    "OrderStatusChanged",
    "BotStateChanged",
]
