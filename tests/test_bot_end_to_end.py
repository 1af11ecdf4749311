"""Issue 14, item 9: the bot end to end on real processes. A fake Binance serves 90 real 1h BTC/USDT bars, one
at a time (at most one per 0.2 s); the real web, worker, relay and scheduler processes run an sma_cross paper
instance created and started through the REST API. Checked: every bar stored and published once, one signal per
bar, the fills equal to the backtest of the same bars trade for trade (through the bot's parity report and
independently, from the backtest's trades and the orders' fills), the position equal to the sum of the fills;
with the worker SIGKILLed while it deals with a trading bar and restarted: no order placed twice at the venue or
here, no bar decided twice, parity still exact.

The clock is stepped (dsta/exchange/tests/stepped_clock.py): the next bar closes once the previous one is dealt
with. A fixed 0.2 s/bar clock turns any pause of this loaded machine, and the worker's restart, into hours of
market time, whose bars are back-filled and (by policy) not traded; on a real 1h clock a restart of seconds falls
inside one bar, which is what holding the clock reproduces.
"""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from functools import partial

import httpx
import pytest
from django.db import connections

from dsta.data import api as data
from dsta.data.contracts import BacktestRequest
from dsta.data.management.commands.load_demo_data import DEMO_DIR
from dsta.domains import DOMAINS
from dsta.exchange.tests.fake_venues import FakeVenueServer
from dsta.exchange.tests.stepped_clock import SteppedClockBinance
from dsta.kernel.tests import processes
from tests.reliability import harness

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
BARS = 90
KILL_AFTER = 45  # the worker is killed at the first trading bar from here on
BAR_SECONDS = 0.2
BOOT_SECONDS = 180.0  # processes boot slowly on a loaded 2-core machine
BAR_TIMEOUT = 60.0
PARAMS = {"fast": 5, "slow": 12}
QUANTITY_PRECISION = Decimal("1e-9")
ENV = {
    "DSTA_CANDLE_SOURCE": "exchange",
    "DSTA_SCHEDULE_MARKET_DATA_SECONDS": "0.05",
    "DSTA_SCHEDULE_SNAPSHOT_PNL_SECONDS": "0",
    "DSTA_SCHEDULE_SYNC_FILLS_SECONDS": "0",
    # messages a killed worker held are requeued within seconds (as in tests/reliability)
    "DSTA_BROKER_HEARTBEAT_MS": "1500",
    "DSTA_BROKER_MAINTENANCE_CHANCE": "1000000",
}


def scheduler(log_dir, **env: str) -> processes.Child:
    argv = [sys.executable, "manage.py", "run_scheduler", "--poll-seconds", "0.02"]
    return processes.Child("scheduler", argv, processes.child_env(**env), log_dir)


def relay(log_dir, **env: str) -> processes.Child:
    argv = [sys.executable, "manage.py", "run_relay", "--poll-seconds", "0.05"]
    return processes.Child("relay", argv, processes.child_env(**env), log_dir)


def outbox_rows(alias: str, name: str, key: str) -> list[str]:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT payload->>%s FROM outbox WHERE name = %s ORDER BY id", [key, name])
        return [row[0] for row in cursor.fetchall()]


def bar_dealt_with(instance_id: int, open_ms: int, *, needs_signal: bool) -> bool:
    """The bar is stored, and (once the strategy has its warm-up) decided, its order final and its fills
    recorded: what a 1h bar leaves time for before the next one closes."""
    from dsta.kernel.clock import from_epoch_ms
    from dsta.trading.models import Fill, Order, Signal

    bar_time = from_epoch_ms(open_ms)
    if not data.candles_get(exchange="binance", symbol="BTC/USDT", timeframe="1h", start=bar_time, limit=1):
        return False
    if not needs_signal:
        return True
    signal = Signal.objects.using("trading").filter(instance_id=instance_id, bar_time=bar_time).first()
    if signal is None or not signal.action:
        return False
    if signal.action != "order":
        return True
    order = Order.objects.using("trading").filter(client_order_id=signal.client_order_id).first()
    if order is None or order.status != "filled":
        return False
    filled = sum((fill.quantity for fill in Fill.objects.using("trading").filter(order=order)), Decimal(0))
    return filled == order.filled_quantity


def signal_exists(instance_id: int, bar_time) -> bool:  # type: ignore[no-untyped-def]
    from dsta.trading.models import Signal

    return Signal.objects.using("trading").filter(instance_id=instance_id, bar_time=bar_time).exists()


def bar_state(instance_id: int, open_ms: int) -> str:
    from dsta.kernel.clock import from_epoch_ms
    from dsta.trading.models import Order, Signal

    signal = Signal.objects.using("trading").filter(instance_id=instance_id, bar_time=from_epoch_ms(open_ms)).first()
    if signal is None:
        return "no signal"
    order = Order.objects.using("trading").filter(client_order_id=signal.client_order_id).first()
    described = f"signal target {signal.target} action {signal.action!r} {signal.detail!r}"
    return described + (
        f"; order {order.status} {order.filled_quantity}/{order.quantity} {order.last_error!r}" if order else ""
    )


@pytest.mark.slow
def test_an_sma_cross_paper_bot_trades_a_real_file_exactly_as_its_backtest(clean_broker, children, tmp_path):
    from dsta.core import api as core
    from dsta.exchange import api as exchange_api
    from dsta.kernel.clock import from_epoch_ms
    from dsta.trading.models import Fill, Order, Position, Signal

    dialect = SteppedClockBinance.from_candle_file(
        DEMO_DIR / "BTC_USDT-1h.csv.gz", symbol="BTC/USDT", limit=BARS, clock_file=tmp_path / "market-clock"
    )
    server = FakeVenueServer(dialect).start()
    killed_at: int | None = None
    try:
        core.secret_set(key="exchange/binance/api_key", value="test-key")
        core.secret_set(key="exchange/binance/secret", value="test-secret")
        harness.ensure_admin()
        env = {**ENV, "DSTA_EXCHANGE_BINANCE_URL": server.url, "DSTA_MARKET_CLOCK": dialect.clock}
        port = harness.free_port()
        children(harness.web(tmp_path, port=port, **env))
        worker = children(processes.worker(tmp_path, **env))
        children(relay(tmp_path, **env))
        children(scheduler(tmp_path, **env))
        base = f"http://127.0.0.1:{port}"
        assert harness.wait_http(f"{base}/healthz", timeout=BOOT_SECONDS)
        headers = {"Authorization": f"Bearer {harness.login(base, 'reliability', harness.ADMIN_PASSWORD)}"}
        body = {
            "name": "e2e-sma",
            "strategy": "sma_cross",
            "params": PARAMS,
            "exchange": "binance",
            "symbol": "BTC/USDT",
            "timeframe": "1h",
            "mode": "paper",
            "capital": "5000",  # equity stays within the default max_order_notional (10,000)
        }
        created = httpx.post(f"{base}/api/v1/strategies", json=body, headers=headers, timeout=30)
        assert created.status_code == 201, created.text
        instance_id = created.json()["id"]
        started = httpx.post(f"{base}/api/v1/strategies/{instance_id}/start", headers=headers, timeout=30)
        assert started.status_code == 200 and started.json()["state"] == "running", started.text
        # the chain is up once the venue sees the feed's requests (nothing has closed yet: empty answers)
        assert processes.wait_until(lambda: dialect.kline_requests > 0, timeout=BOOT_SECONDS), worker.log_tail()

        warmup = PARAMS["slow"] - 1  # sma_cross decides from the bar that completes its slow average
        for index, row in enumerate(dialect.rows):
            stepped = time.monotonic()
            dialect.close_bar(index)
            open_ms = int(row[0])
            needs_signal = index >= warmup
            if killed_at is None and index >= KILL_AFTER:
                # SIGKILL as soon as the strategy decided a bar that changes the target: its order is in flight
                bar_time = from_epoch_ms(open_ms)
                assert processes.wait_until(
                    partial(signal_exists, instance_id, bar_time),
                    timeout=BAR_TIMEOUT,
                    interval=0.005,
                ), worker.log_tail()
                signal = Signal.objects.using("trading").get(instance_id=instance_id, bar_time=bar_time)
                previous = Signal.objects.using("trading").filter(instance_id=instance_id, bar_time__lt=bar_time)
                if signal.target != previous.order_by("-bar_time").values_list("target", flat=True).first():
                    worker.kill()
                    killed_at = index
                    worker = children(processes.worker(tmp_path, name="worker-after-kill", **env))
            timeout = BOOT_SECONDS if killed_at == index else BAR_TIMEOUT
            assert processes.wait_until(
                partial(bar_dealt_with, instance_id, open_ms, needs_signal=needs_signal),
                timeout=timeout,
                interval=0.02,
            ), f"bar {index} not dealt with: {bar_state(instance_id, open_ms)}\n{worker.log_tail()}"
            time.sleep(max(0.0, BAR_SECONDS - (time.monotonic() - stepped)))
        time.sleep(1.0)  # a late duplicate (a redelivered message) would show up here
        parity = httpx.get(f"{base}/api/v1/strategies/{instance_id}/parity", headers=headers, timeout=120)
    finally:
        server.stop()

    assert killed_at is not None, "no bar after KILL_AFTER changed the target: the kill tested nothing"
    opens = [int(row[0]) for row in dialect.rows]
    bar_times = [from_epoch_ms(ms) for ms in opens]

    # every bar stored once, published once, none as a back-fill
    stored = data.candles_get(exchange="binance", symbol="BTC/USDT", timeframe="1h")
    assert [bar.open_time for bar in stored] == bar_times
    assert [bar.close for bar in stored] == [Decimal(row[4]) for row in dialect.rows]
    assert outbox_rows("data", "data.candle_closed", "open_time") == [t.isoformat() for t in bar_times]
    assert set(outbox_rows("data", "data.candle_closed", "backfill")) == {"false"}

    # one signal per bar from the strategy's warm-up on, each decided once and none stale
    signals = list(Signal.objects.using("trading").filter(instance_id=instance_id).order_by("bar_time"))
    assert [s.bar_time for s in signals] == bar_times[warmup:]
    assert not any(s.stale for s in signals) and all(s.action for s in signals)
    emitted = [t for t in outbox_rows("trading", "trading.signal", "bar_time")]
    assert len(emitted) == len(set(emitted)) == len(signals)

    # no order duplicated: one order per trading decision, here and at the venue, each filled once
    decided = [s for s in signals if s.action == "order"]
    orders = list(Order.objects.using("trading").filter(strategy_instance_id=instance_id).order_by("created_at"))
    assert sorted(o.client_order_id for o in orders) == sorted(s.client_order_id for s in decided)
    assert all(o.status == "filled" and o.filled_quantity == o.quantity for o in orders)
    fills = list(Fill.objects.using("trading").filter(order__in=orders).select_related("order"))
    venue_fills = [f for f in exchange_api.fills_list(venue="paper") if f.client_order_id.startswith("bot-")]
    assert sorted(f.exchange_fill_id for f in fills) == sorted(f.fill_id for f in venue_fills)
    venue_filled: dict[str, Decimal] = {}
    for venue_fill in venue_fills:
        venue_filled[venue_fill.client_order_id] = venue_filled.get(venue_fill.client_order_id, Decimal(0)) + (
            venue_fill.amount
        )
    assert venue_filled == {o.client_order_id: o.quantity for o in orders}  # each filled once, at the venue too
    net = sum((f.quantity if f.order.side == "buy" else -f.quantity for f in fills), Decimal(0))
    assert Position.objects.using("trading").get(exchange="paper", symbol="BTC/USDT").quantity == net

    # parity through the bot's report: every trade matched, at the same bars and prices
    assert parity.status_code == 200, parity.text
    report = parity.json()
    assert report["score"] == 1.0 and not report["extra"] and not report["missed"], report
    assert report["bot_trades"] == report["backtest_trades"] == len(report["matched"]) > 1
    assert all(m["entry_time_difference_seconds"] == 0 and m["entry_slippage_bps"] == 0 for m in report["matched"])
    assert report["max_slippage_bps"] == 0

    # and independently: the backtest of the same bars, trade by trade, against the orders' fills
    summary = data.backtest_run(
        request=BacktestRequest(
            strategy="sma_cross",
            params=PARAMS,
            exchange="binance",
            symbol="BTC/USDT",
            timeframe="1h",
            start=bar_times[0],
            end=bar_times[-1] + (bar_times[1] - bar_times[0]),
            initial_cash=Decimal("5000"),
            commission=Decimal("0.001"),
            slippage=Decimal("0"),
            fill_at="close",
        )
    )
    assert not summary.error, summary.error
    backtest = [
        (t.entry_time, t.entry_price, t.qty, t.exit_time, t.exit_price)
        for t in data.backtest_trades(job_id=summary.job_id)
    ]
    by_bar = {s.client_order_id: s.bar_time for s in decided}
    ours, entry = [], None
    for order in sorted(orders, key=lambda o: by_bar[o.client_order_id]):
        if order.side == "buy":
            entry = (by_bar[order.client_order_id], order.average_price, order.filled_quantity)
        else:
            assert entry is not None and order.filled_quantity == entry[2]  # sma_cross exits the whole position
            ours.append((*entry, by_bar[order.client_order_id], order.average_price))
            entry = None
    if entry is not None:
        ours.append((*entry, None, None))
    assert len(backtest) == len(ours) > 1
    for bot_trade, backtest_trade in zip(ours, backtest, strict=True):
        assert bot_trade[:2] == backtest_trade[:2]  # entry bar and price
        # the quantity to the order table's precision (10 decimal places; the backtest keeps 18)
        assert abs(bot_trade[2] - backtest_trade[2]) < QUANTITY_PRECISION
        if bot_trade[3] is not None:
            assert bot_trade[3:] == backtest_trade[3:]  # exit bar and price
    print(
        f"{BARS} bars, {len(signals)} signals, {len(orders)} orders, {len(ours)} trades; worker killed at bar "
        f"{killed_at}; parity {report['summary']}"
    )
