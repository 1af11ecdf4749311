"""The bot across real processes: closed candles published by data, carried by the relay to a dramatiq worker
that decides each bar and trades its signal on the paper venue; a worker killed mid-run and restarted never
places an order twice nor decides a bar twice."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from dsta.domains import DOMAINS
from dsta.kernel.tests import processes

pytestmark = [pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True), pytest.mark.slow]
DEMO_BTC = Path(__file__).resolve().parents[1] / "dsta" / "data" / "demo" / "BTC_USDT-1h.csv.gz"


def test_candles_to_orders_through_relay_and_worker_and_a_restart(clean_broker, children, tmp_path):
    from dsta.data import api as data_api
    from dsta.exchange import api as exchange_api
    from dsta.trading import bot, bot_book, bot_replay
    from dsta.trading.models import Order, Position, Signal

    exchange_api.paper_reset(slippage_bps=Decimal(0), slippage_jitter_bps=Decimal(0))
    bars = bot_replay.candles_read(DEMO_BTC, exchange="binance", symbol="BTC/USDT", timeframe="1h")[:44]
    for bar in bars[:14]:  # history before the bot runs: its events arrive later, as back-fill
        data_api.candle_close(bar=bar)
    instance = bot.instance_create(
        name="procs",
        strategy="sma_cross",
        params={"fast": 3, "slow": 6},
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
        settings=bot.BotSettings(capital=Decimal("1000")),
        actor_id=None,
    )
    bot.bot_start(instance_id=instance.pk, actor_id=None)
    worker = children(processes.worker(tmp_path))
    children(processes.relay(tmp_path))

    def decided(bar) -> bool:
        return (
            Signal.objects.using("trading")
            .filter(instance=instance, bar_time=bar.open_time)
            .exclude(action="")
            .exists()
        )

    for index, bar in enumerate(bars[14:]):
        if index == 12:
            worker.kill()  # SIGKILL mid-run: redelivered messages meet decisions already stored
            worker = children(processes.worker(tmp_path, name="worker-2"))
        data_api.candle_close(bar=bar)
        assert processes.wait_until(lambda bar=bar: decided(bar), timeout=120), worker.log_tail()
    signals = Signal.objects.using("trading").filter(instance=instance)
    assert signals.filter(bar_time__gte=bars[14].open_time).count() == 30  # one decision per bar
    assert signals.filter(bar_time__lt=bars[14].open_time, action="order").count() == 0  # back-fill not traded
    ordered = signals.filter(action="order")
    orders = Order.objects.using("trading").filter(strategy_instance_id=instance.pk)
    assert ordered.count() >= 2 and orders.count() == ordered.count()
    assert set(orders.values_list("client_order_id", flat=True)) == set(
        ordered.values_list("client_order_id", flat=True)
    )
    assert all(order.status == "filled" for order in orders)
    book = bot_book.book_of(instance)
    assert Position.objects.using("trading").get(exchange="paper", symbol="BTC/USDT").quantity == book.position.quantity
