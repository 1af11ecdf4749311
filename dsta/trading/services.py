"""Writes of the trading domain."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from dsta.trading.models import MarkPrice

ALIAS = "trading"


def mark_price_record(*, exchange: str, symbol: str, price: Decimal, as_of: datetime) -> None:
    """Keep the newest price per market; an older bar arriving late never overwrites a newer one."""
    current = MarkPrice.objects.using(ALIAS).select_for_update().filter(exchange=exchange, symbol=symbol).first()
    if current is None:
        MarkPrice.objects.using(ALIAS).create(exchange=exchange, symbol=symbol, price=price, as_of=as_of)
    elif as_of >= current.as_of:
        current.price, current.as_of = price, as_of
        current.save(using=ALIAS, update_fields=["price", "as_of", "updated_at"])
