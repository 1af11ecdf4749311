"""Events crossing domains end to end: data publishes, the relay and a worker process deliver, trading reacts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dsta.domains import DOMAINS
from dsta.kernel.tests import processes

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)


def test_candle_closed_reaches_trading_through_relay_and_worker(clean_broker, children, tmp_path):
    from dsta.data import api as data
    from dsta.data.contracts import CandleBar
    from dsta.trading import api as trading

    children(processes.worker(tmp_path))
    children(processes.relay(tmp_path))
    for hour, close in enumerate(["100.5", "101.25", "99.75"]):
        price = Decimal(close)
        data.candle_close(
            bar=CandleBar(
                "binance",
                "ETH/USDT",
                "1h",
                datetime(2025, 3, 1, hour, tzinfo=UTC),
                price,
                price,
                price,
                price,
                Decimal("3"),
            )
        )

    def marked() -> bool:
        mark = trading.mark_price_get(exchange="binance", symbol="ETH/USDT")
        return mark is not None and mark.as_of.hour == 2

    assert processes.wait_until(marked, timeout=90)  # a worker boots slowly on a loaded 2-core machine
    mark = trading.mark_price_get(exchange="binance", symbol="ETH/USDT")
    assert mark.price == Decimal("99.75")
