"""`manage.py trade --dry-run`: bundled candles through candle_close -> decisions -> order saga -> paper
fills trade like the backtest of the same strategy on the same candles."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from dsta.data import api as data_api
from dsta.data.contracts import BacktestRequest
from dsta.domains import DOMAINS
from dsta.trading import replay, services
from dsta.trading.models import Order

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
BARS = 400


def test_dry_run_trades_match_the_backtest_on_the_same_candles():
    # Limits wide enough for a 10,000 USDT account going all in; the check itself still runs on every order.
    services.risk_limits_update(
        values={"max_order_notional": Decimal(10**6), "max_position_notional": Decimal(10**6)}, actor_id=None
    )
    out = StringIO()
    call_command(
        "trade",
        "--dry-run",
        "--strategy",
        "sma_cross",
        "--symbol",
        "BTC/USDT",
        "--param",
        "fast=10",
        "--param",
        "slow=20",
        "--bars",
        str(BARS),
        stdout=out,
    )
    assert "0 rejected by risk" in out.getvalue()
    bars = replay.demo_bars(symbol="BTC/USDT", limit=BARS)
    summary = data_api.backtest_run(
        request=BacktestRequest(
            strategy="sma_cross",
            params={"fast": 10, "slow": 20},
            exchange="binance",
            symbol="BTC/USDT",
            timeframe="1h",
            start=bars[0].open_time,
            end=bars[-1].open_time + timedelta(hours=1),
            commission=Decimal("0.001"),
            fill_at="next_open",
        )
    )
    trades = [t for t in data_api.backtest_trades(job_id=summary.job_id) if t.exit_reason != "end_of_data"]
    assert len(trades) >= 3  # enough crossings to make the comparison mean something
    expected = []
    for trade in trades:
        expected += [("buy", trade.entry_time, trade.entry_price), ("sell", trade.exit_time, trade.exit_price)]
    orders = Order.objects.using("trading").filter(client_order_id__startswith="dry-").order_by("created_at")
    fills = [fill for order in orders for fill in order.fills.using("trading").all()]
    # A position still open at the end is closed by the backtest (end_of_data) but left open by the dry run.
    assert [(fill.side, fill.executed_at, fill.price) for fill in fills[: len(expected)]] == expected
    assert len(fills) - len(expected) in (0, 1)
    # Sized as the backtest sizes (equity at the fill price, buys net of the fee): the same quantities, to
    # the dry run's 0.000001 lot (the backtest computes in floats).
    quantities = [(fill.quantity, trade.qty) for fill, trade in zip(fills[::2], trades, strict=False)]
    quantities += [(fill.quantity, trade.qty) for fill, trade in zip(fills[1::2], trades, strict=False)]
    assert quantities and all(abs(ours - theirs) <= Decimal("0.000002") for ours, theirs in quantities), quantities


def test_refuses_to_run_without_dry_run_and_names_bad_input():
    with pytest.raises(CommandError, match="only --dry-run"):
        call_command("trade", "--strategy", "sma_cross", "--symbol", "BTC/USDT")
    with pytest.raises(CommandError, match="no bundled"):
        call_command("trade", "--dry-run", "--strategy", "sma_cross", "--symbol", "NOPE/USDT")
    with pytest.raises(CommandError, match="bad parameters"):
        call_command("trade", "--dry-run", "--strategy", "sma_cross", "--symbol", "BTC/USDT", "--param", "fast=-3")
