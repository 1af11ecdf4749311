"""Reads of the trading domain."""

from __future__ import annotations

from dsta.trading.contracts import MarkPriceView
from dsta.trading.models import MarkPrice

ALIAS = "trading"


def mark_price_get(*, exchange: str, symbol: str) -> MarkPriceView | None:
    row = MarkPrice.objects.using(ALIAS).filter(exchange=exchange, symbol=symbol).first()
    if row is None:
        return None
    return MarkPriceView(row.exchange, row.symbol, row.price, row.as_of)
