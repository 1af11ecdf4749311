"""Frozen dataclasses that cross the trading domain's boundary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class MarkPriceView:
    exchange: str
    symbol: str
    price: Decimal
    as_of: datetime
