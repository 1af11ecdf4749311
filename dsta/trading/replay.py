"""Dry-run trading over recorded candles: each bar goes through `data.candle_close`, drives the paper venue,
asks the strategy for its decision at the bar's close (the live path, `strategy_signal`) and turns a change
of target exposure into a market order through the full saga (risk, submit, fill, position). A market order
waits at the paper venue and fills at the next bar's open, like the backtest's `next_open` fills."""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

from django.db import transaction

from dsta.data import api as data_api
from dsta.data.contracts import CandleBar
from dsta.exchange import api as exchange_api
from dsta.exchange.contracts import OhlcvBar
from dsta.trading import orders, services
from dsta.trading.models import Fill

ALIAS = "trading"
VENUE = "paper"
FEE = Decimal("0.001")
# A waiting market buy reserves 5% above the last price at the paper venue; size buys to fit under it.
BUY_RESERVE = Decimal("1.05")
STEP = Decimal("0.000001")
DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


@dataclass(frozen=True)
class ReplayFill:
    side: str
    at: datetime
    price: Decimal
    quantity: Decimal


@dataclass(frozen=True)
class ReplayResult:
    bars: int
    orders_placed: int
    orders_rejected: int
    fills: list[ReplayFill]
    cash: Decimal
    base: Decimal


def demo_bars(*, symbol: str, limit: int | None, exchange: str = "binance") -> list[CandleBar]:
    path = DEMO / f"{symbol.replace('/', '_')}-1h.csv.gz"
    if not path.exists():
        raise FileNotFoundError(f"no bundled 1h candles for {symbol} ({path.name})")
    bars = []
    with gzip.open(path, "rt") as handle:
        for row in csv.DictReader(handle):
            bars.append(
                CandleBar(
                    exchange=exchange,
                    symbol=symbol,
                    timeframe="1h",
                    open_time=datetime.fromtimestamp(int(row["timestamp"]) / 1000, tz=UTC),
                    open=Decimal(row["open"]),
                    high=Decimal(row["high"]),
                    low=Decimal(row["low"]),
                    close=Decimal(row["close"]),
                    volume=Decimal(row["volume"]),
                )
            )
            if limit is not None and len(bars) >= limit:
                break
    return bars


def replay(
    *, strategy: str, params: dict[str, float], bars: list[CandleBar], initial_cash: Decimal, run_id: str
) -> ReplayResult:
    """Replay `bars` (one market, oldest first) on a freshly reset paper venue funded with `initial_cash`."""
    symbol = bars[0].symbol
    base_asset, quote_asset = symbol.split("/")
    exchange_api.paper_reset(taker_fee=FEE, maker_fee=FEE, slippage_bps=Decimal(0), slippage_jitter_bps=Decimal(0))
    exchange_api.paper_deposit(asset=quote_asset, amount=initial_cash)
    placed: list[int] = []
    rejected = 0
    held_target: Decimal | None = Decimal(0)
    for bar in bars:
        data_api.candle_close(bar=bar)
        exchange_api.paper_price_feed(
            symbol=symbol, bar=OhlcvBar(bar.open_time, bar.open, bar.high, bar.low, bar.close, bar.volume)
        )
        for order_id in placed[-1:]:
            orders.order_sync(order_id)  # the waiting order filled at this bar's open
        with transaction.atomic(using=ALIAS):
            services.mark_price_record(exchange=bar.exchange, symbol=symbol, price=bar.close, as_of=bar.open_time)
        balances = {b.asset: b.total for b in exchange_api.balance_get(venue=VENUE)}
        cash, base = balances.get(quote_asset, Decimal(0)), balances.get(base_asset, Decimal(0))
        try:
            signal = data_api.strategy_signal(
                strategy=strategy,
                params=params,
                exchange=bar.exchange,
                symbol=symbol,
                timeframe=bar.timeframe,
                as_of=bar.open_time,
                position=base,
            )
        except ValueError:
            continue  # warm-up
        if signal.bar_time != bar.open_time or signal.target is None or signal.target == held_target:
            continue
        if signal.target < 0:
            raise ValueError("the paper venue is spot only: this replay does not short")
        equity = cash + base * bar.close
        difference = signal.target * equity - base * bar.close
        if difference > 0:
            side, quantity = "buy", (difference / (bar.close * BUY_RESERVE * (1 + FEE))).quantize(STEP, ROUND_DOWN)
        else:
            side = "sell"
            quantity = base if signal.target == 0 else (-difference / bar.close).quantize(STEP, ROUND_DOWN)
        held_target = signal.target
        if quantity <= 0:
            continue
        order = orders.order_place(
            orders.NewOrder(
                exchange=VENUE,
                symbol=symbol,
                side=side,
                order_type="market",
                quantity=quantity,
                client_order_id=f"{run_id}-{int(bar.open_time.timestamp())}",
            )
        )
        placed.append(order.pk)
        rejected += order.status == "rejected"
    fills = Fill.objects.using(ALIAS).filter(order_id__in=placed).order_by("executed_at", "id")
    balances = {b.asset: b.total for b in exchange_api.balance_get(venue=VENUE)}
    return ReplayResult(
        bars=len(bars),
        orders_placed=len(placed),
        orders_rejected=rejected,
        fills=[ReplayFill(fill.side, fill.executed_at, fill.price, fill.quantity) for fill in fills],
        cash=balances.get(quote_asset, Decimal(0)),
        base=balances.get(base_asset, Decimal(0)),
    )
