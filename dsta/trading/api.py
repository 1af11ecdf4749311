"""Facade of the trading domain."""

from __future__ import annotations

from dsta.trading import selectors
from dsta.trading.contracts import MarkPriceView


def mark_price_get(*, exchange: str, symbol: str) -> MarkPriceView | None:
    """The latest closed-bar price trading has seen for a market, or None before the first bar."""
    return selectors.mark_price_get(exchange=exchange, symbol=symbol)
