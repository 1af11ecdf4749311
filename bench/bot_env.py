"""Shared set-up of the bot benchmarks (bot_candle_to_orders.py, bot_memory.py): N paper markets, each with two
running sma_cross instances (fast 2, slow 3; exposures 1.0 and 0.5) whose target flips at every bar of a zigzag
close (100, 110, 100, ...), so every instance orders at every bar: the worst case of a close, all at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

T0 = datetime(2025, 1, 1, tzinfo=UTC)
STEP = timedelta(hours=1)
EXCHANGE = "bench"  # the reference venue's name: nothing else in the bench database trades it
PARAMS = ({"fast": 2, "slow": 3, "exposure": 1.0}, {"fast": 2, "slow": 3, "exposure": 0.5})
WARMUP_BARS = 4


def symbols(markets: int) -> list[str]:
    return [f"M{index:03d}/USDT" for index in range(markets)]


def close_at(index: int) -> Decimal:
    return Decimal(110) if index % 2 else Decimal(100)


def bar(symbol: str, index: int):  # type: ignore[no-untyped-def]
    from dsta.data.contracts import CandleBar

    price = close_at(index)
    return CandleBar(EXCHANGE, symbol, "1h", T0 + STEP * index, price, price, price, price, Decimal(1))


def prepare(markets: int) -> list[int]:
    """Call after benchenv.setup_django(). Wipes the bench database's bot and order state, creates and starts the
    instances on a fresh paper venue; returns their ids."""
    from django.db import connections

    from dsta.exchange import api as exchange_api
    from dsta.trading import bot, services

    with connections["trading"].cursor() as cursor:
        cursor.execute(
            'TRUNCATE "order", order_transition, fill, position, risk_violation, outbox, signal,'
            " strategy_instance, mark_price, drawdown_state, circuit_breaker CASCADE"
        )
    with connections["data"].cursor() as cursor:
        cursor.execute("DELETE FROM candle WHERE exchange = %s", [EXCHANGE])
        cursor.execute("TRUNCATE outbox")
    with connections["exchange"].cursor() as cursor:
        cursor.execute("TRUNCATE outbox")
    for alias in ("trading", "ml"):  # the consumers of the candle events: their inboxes start empty
        with connections[alias].cursor() as cursor:
            cursor.execute("TRUNCATE inbox")
    exchange_api.paper_reset(seed=7)
    services.risk_limits_update(
        values={
            "max_orders_per_minute": 10**9,
            "max_open_orders": 10**6,
            "max_order_notional": Decimal(10**12),
            "max_position_notional": Decimal(10**12),
            "max_total_exposure": Decimal(10**12),
            # the portfolio's drawdown is still valued on every batch of marks; it must not halt the orders
            "max_drawdown_pct": Decimal(100),
        },
        actor_id=None,
        reason="bot benchmark",
    )
    ids = []
    for symbol in symbols(markets):
        for n, params in enumerate(PARAMS):
            instance = bot.instance_create(
                name=f"bench-{symbol}-{n}",
                strategy="sma_cross",
                params=params,
                exchange=EXCHANGE,
                symbol=symbol,
                timeframe="1h",
                actor_id=None,
                settings=bot.BotSettings(capital=Decimal(1000), candles_supplied=True),
            )
            bot.bot_start(instance_id=instance.pk, actor_id=None)
            ids.append(instance.pk)
    return ids


def close_all(markets: list[str], index: int) -> float:
    """Commit bar `index` of every market in one data transaction (their events with it); returns the
    perf_counter time right after the commit."""
    import time

    from django.db import transaction

    from dsta.data import api as data_api

    with transaction.atomic(using="data"):
        for symbol in markets:
            data_api.candle_close(bar=bar(symbol, index))
    return time.perf_counter()


def relay_close() -> list[tuple[str, list[dict]]]:  # type: ignore[type-arg]
    """What the relay does with a close's committed candle events: claim them from the data outbox and cut them
    into the broker messages it would send (`kernel.relay.delivery_batches`, DSTA_OUTBOX_PARTITIONS): returns
    (consuming domain, events) pairs, each for one worker to `deliver`."""
    from django.conf import settings

    from dsta.domains import DOMAIN_BY_NAME
    from dsta.kernel.relay import Relay, delivery_batches

    claimed: list[dict] = []  # type: ignore[type-arg]
    Relay(domains=[DOMAIN_BY_NAME["data"]], sender=claimed.extend).drain()
    return delivery_batches(claimed, partitions=settings.OUTBOX_PARTITIONS)


def orders_at(index: int) -> int:
    from dsta.trading.models import Order

    bar_time = T0 + STEP * index
    return Order.objects.using("trading").filter(client_order_id__endswith=f"-{int(bar_time.timestamp())}").count()
