"""Dry-run trading over recorded candles: each bar goes through `data.candle_close`, drives the paper venue,
asks the strategy for its decision at the bar's close (the live path, `strategy_signal`) and turns a change
of target exposure into an order through the full saga (risk, submit, fill, position).

Execution and sizing follow the backtest's `next_open` rule exactly: the decision taken at a bar's close is
executed at the next bar's open, sized on the equity at that open (buys net of the fee). The paper venue is
given a book at the open that takes a limit order at the open price: it fills at the open, at the bar's
time, and (unlike a waiting market buy, which reserves a 5% price buffer) it can spend all the cash.
"""

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
from dsta.exchange.contracts import OhlcvBar, OrderBook, PriceLevel
from dsta.trading import orders, services
from dsta.trading.models import Fill

ALIAS = "trading"
VENUE = "paper"
FEE = Decimal("0.001")
STEP = Decimal("0.000001")
OPEN_BOOK_DEPTH = Decimal(10**9)  # the book at the open never runs out: the backtest fills any size there
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
    quote_asset = symbol.split("/")[1]
    exchange_api.paper_reset(taker_fee=FEE, maker_fee=FEE, slippage_bps=Decimal(0), slippage_jitter_bps=Decimal(0))
    exchange_api.paper_deposit(asset=quote_asset, amount=initial_cash)
    placed: list[int] = []
    rejected = 0
    held_target: Decimal | None = Decimal(0)
    pending: Decimal | None = None  # a target decided at the last close, executed at this bar's open
    for bar in bars:
        data_api.candle_close(bar=bar)
        if pending is not None:
            order = _execute_at_open(bar, pending, run_id=run_id)
            if order is not None:
                placed.append(order.pk)
                rejected += order.status == "rejected"
            pending = None
        exchange_api.paper_price_feed(
            symbol=symbol, bar=OhlcvBar(bar.open_time, bar.open, bar.high, bar.low, bar.close, bar.volume)
        )
        with transaction.atomic(using=ALIAS):
            services.mark_price_record(exchange=bar.exchange, symbol=symbol, price=bar.close, as_of=bar.open_time)
        base = _balances(symbol)[0]
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
        pending = held_target = signal.target
    fills = Fill.objects.using(ALIAS).filter(order_id__in=placed).order_by("executed_at", "id")
    balances = {b.asset: b.total for b in exchange_api.balance_get(venue=VENUE)}
    base_asset, quote_asset = symbol.split("/")
    return ReplayResult(
        bars=len(bars),
        orders_placed=len(placed),
        orders_rejected=rejected,
        fills=[ReplayFill(fill.side, fill.executed_at, fill.price, fill.quantity) for fill in fills],
        cash=balances.get(quote_asset, Decimal(0)),
        base=balances.get(base_asset, Decimal(0)),
    )


def _balances(symbol: str) -> tuple[Decimal, Decimal]:
    """(base, quote) held at the paper venue."""
    base_asset, quote_asset = symbol.split("/")
    balances = {b.asset: b.total for b in exchange_api.balance_get(venue=VENUE)}
    return balances.get(base_asset, Decimal(0)), balances.get(quote_asset, Decimal(0))


def _execute_at_open(bar: CandleBar, target: Decimal, *, run_id: str) -> orders.Order | None:
    """Move to `target` (fraction of equity) at `bar.open`, sized as the backtest's `rebalance`."""
    price = bar.open
    # the last bar's book is stale: clear it so the order rests until this bar's book arrives
    exchange_api.paper_book_feed(book=OrderBook(VENUE, bar.symbol, bar.open_time, (), ()))
    base, cash = _balances(bar.symbol)
    difference = target * (cash + base * price) - base * price
    if difference > 0:
        side, quantity = "buy", (difference / (price * (1 + FEE))).quantize(STEP, ROUND_DOWN)
    else:
        side = "sell"
        quantity = base if target == 0 else (-difference / price).quantize(STEP, ROUND_DOWN)
    if quantity <= 0:
        return None
    order = orders.order_place(
        orders.NewOrder(
            exchange=VENUE,
            symbol=bar.symbol,
            side=side,
            order_type="limit",
            quantity=quantity,
            price=price,
            client_order_id=f"{run_id}-{int(bar.open_time.timestamp())}",
        )
    )
    level = (PriceLevel(price, OPEN_BOOK_DEPTH),)
    exchange_api.paper_book_feed(book=OrderBook(VENUE, bar.symbol, bar.open_time, level, level))
    return orders.order_sync(order.pk)  # filled by the book at the open
