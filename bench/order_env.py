"""Shared set-up of the order benchmarks (order_api.py, order_http.py): an empty order book on the trading side,
a funded paper venue with a deep book, a mark price, limits that let the load through, and a bench user."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SYMBOL = "BTC/USDT"


def prepare_market() -> None:
    """Call after benchenv.setup_django(). Wipes the bench database's orders, fills and positions first: the
    paper venue's ids restart at every reset, and stale trading fills under the same ids would be skipped."""
    from django.db import connections

    from dsta.exchange import api as exchange_api
    from dsta.exchange.contracts import OrderBook, PriceLevel
    from dsta.trading import services
    from dsta.trading.models import MarkPrice

    with connections["trading"].cursor() as cursor:
        cursor.execute('TRUNCATE "order", order_transition, fill, position, risk_violation, outbox CASCADE')
    with connections["exchange"].cursor() as cursor:
        cursor.execute("TRUNCATE outbox")
    exchange_api.paper_reset(seed=7)
    exchange_api.paper_deposit(asset="USDT", amount=Decimal(10**9))
    exchange_api.paper_deposit(asset="BTC", amount=Decimal(10**6))
    levels = range(5)
    exchange_api.paper_book_feed(
        book=OrderBook(
            "paper",
            SYMBOL,
            T0,
            tuple(PriceLevel(Decimal(99) - i, Decimal(10**6)) for i in levels),
            tuple(PriceLevel(Decimal(100) + i, Decimal(10**6)) for i in levels),
        )
    )
    MarkPrice.objects.using("trading").update_or_create(
        exchange="paper", symbol=SYMBOL, defaults={"price": Decimal(100), "as_of": T0}
    )
    services.risk_limits_update(
        values={
            "max_orders_per_minute": 10**6,
            "max_open_orders": 10**4,
            "max_position_notional": Decimal(10**12),
            "max_total_exposure": Decimal(10**12),
        },
        actor_id=None,
        reason="benchmark",
    )


def bench_access_token() -> str:
    """A JWT access token of a superuser `bench` (the real auth path: decode, one query for user, roles and
    revocation)."""
    from django.contrib.auth import get_user_model

    from dsta.core import auth

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_superuser": True})
    if not user.is_superuser:
        user.is_superuser = True
        user.save(update_fields=["is_superuser"])
    return auth.tokens_issue(user=user).access_token


def order_body(n: int) -> dict[str, str]:
    return {"exchange": "paper", "symbol": SYMBOL, "side": "buy" if n % 2 else "sell", "quantity": "0.01"}
