"""The event-driven engine: bar by bar, exactly as live trading sees the market.

Order of events inside bar t:
1. The order decided at bar t-1's close is worked: a market order fills at t's open; a limit buy fills
   when the low reaches its price (at the open if the bar opens through it), a stop buy when the high
   does; sells mirror this. Unfilled limit and stop orders rest until filled or replaced.
2. Stop-loss and take-profit of the open position are checked against t's range. A gap through either
   fills at the open. When both lie inside the same bar the stop-loss is taken: a bar's path is unknown,
   and assuming the worse outcome keeps results honest.
3. Equity is marked at t's close; the strategy decides. With `fill_at="close"` a market decision fills at
   that close at once instead of the next open.
Slippage moves every market and stop fill against the trader; limits and take-profits fill at their price.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dsta.data.backtesting.accounting import Book, Costs, TradeRecord, close_position, rebalance
from dsta.data.bars import Bars
from dsta.data.strategies.base import BarContext, Decision, Strategy
from dsta.exchange.contracts import DEFAULT_COSTS

FILL_MODES = ("next_open", "close")


@dataclass(frozen=True)
class BacktestConfig:
    initial_cash: float = 10_000.0
    commission: float = float(DEFAULT_COSTS.commission)  # exchange.contracts.CostModel: the paper venue's too
    slippage: float = float(DEFAULT_COSTS.slippage)
    fill_at: str = "next_open"
    close_at_end: bool = True  # settle an open position at the last close as `end_of_data`
    trade_from: int = 0  # bars before this index only warm indicators up (walk-forward windows)

    def __post_init__(self) -> None:
        if self.fill_at not in FILL_MODES:
            raise ValueError(f"fill_at must be one of {FILL_MODES}")
        if self.initial_cash <= 0 or not 0 <= self.commission < 1 or not 0 <= self.slippage < 1:
            raise ValueError("initial_cash must be positive; commission and slippage fractions in [0, 1)")

    @property
    def costs(self) -> Costs:
        return Costs(self.commission, self.slippage)


@dataclass(frozen=True)
class EngineResult:
    equity: np.ndarray  # marked at each bar's close
    trades: list[TradeRecord] = field(default_factory=list)
    path: str = "event"


PROGRESS_EVERY = 1 << 16  # bars between progress reports: rare enough to cost nothing


def run_event_driven(
    strategy: Strategy, bars: Bars, config: BacktestConfig, *, on_progress: Callable[[float], None] | None = None
) -> EngineResult:
    indicators = strategy.indicators(bars)
    opens, highs, lows, closes = (column.tolist() for column in (bars.open, bars.high, bars.low, bars.close))
    count = len(closes)
    costs = config.costs
    limit_costs = Costs(costs.commission, 0.0)  # a resting limit fills at its price
    book = Book(cash=config.initial_cash)
    series = {name: values.tolist() for name, values in indicators.items()}
    context = BarContext(bars=bars, indicators=indicators, series=series, cash=book.cash, equity=book.cash)
    equity = np.empty(count)
    trades: list[TradeRecord] = []
    pending: Decision | None = None
    held_target = 0.0  # the exposure the current position was built for
    stop_loss = take_profit = None
    warmup = max(strategy.warmup(), config.trade_from)
    decide = strategy.decide
    next_open = config.fill_at == "next_open"

    for t in range(count):
        if on_progress is not None and not t % PROGRESS_EVERY:
            on_progress(t / count)
        if pending is not None:
            price = _fill_price(pending, opens[t], highs[t], lows[t], book.qty, held_target)
            if price is not None:
                fill_costs = limit_costs if pending.order_type == "limit" else costs
                closed = rebalance(book, target=pending.target, price=price, index=t, costs=fill_costs)  # type: ignore[arg-type]
                if closed is not None:
                    trades.append(closed)
                held_target = pending.target  # type: ignore[assignment]
                stop_loss, take_profit = pending.stop_loss, pending.take_profit
                pending = None
        if book.qty != 0 and (stop_loss is not None or take_profit is not None):
            exit_price, reason = _protective_exit(book.qty > 0, opens[t], highs[t], lows[t], stop_loss, take_profit)
            if exit_price is not None:
                trades.append(
                    close_position(
                        book,
                        price=exit_price,
                        index=t,
                        costs=costs,
                        reason=reason,
                        slipped=reason == "stop_loss" or exit_price == opens[t],
                    )
                )
                held_target, stop_loss, take_profit = 0.0, None, None
        close = closes[t]
        equity[t] = book.cash + book.qty * close
        if t < warmup:
            continue
        context.index, context.position, context.cash, context.equity = t, book.qty, book.cash, equity[t]
        decision = decide(context)
        target = decision.target
        if target is None:
            continue
        if target == held_target and decision.order_type == "market":
            pending = None  # the position already is what the strategy wants
            continue
        if next_open or decision.order_type != "market":
            pending = decision
            continue
        closed = rebalance(book, target=target, price=close, index=t, costs=costs)
        if closed is not None:
            trades.append(closed)
        held_target, stop_loss, take_profit = target, decision.stop_loss, decision.take_profit
        equity[t] = book.cash + book.qty * close

    if config.close_at_end and book.qty != 0:
        trades.append(close_position(book, price=closes[-1], index=count - 1, costs=costs, reason="end_of_data"))
        equity[-1] = book.cash
    return EngineResult(equity=equity, trades=trades, path="event")


def _fill_price(order: Decision, open_: float, high: float, low: float, qty: float, held: float) -> float | None:
    if order.order_type == "market":
        return open_
    buying = order.target > held  # type: ignore[operator]
    price = order.price
    if price is None:
        raise ValueError(f"a {order.order_type} order needs a price")
    if order.order_type == "limit":
        if buying and low <= price:
            return min(open_, price)
        if not buying and high >= price:
            return max(open_, price)
        return None
    if order.order_type == "stop":
        if buying and high >= price:
            return max(open_, price)
        if not buying and low <= price:
            return min(open_, price)
        return None
    raise ValueError(f"unknown order type {order.order_type!r}")


def _protective_exit(
    long: bool, open_: float, high: float, low: float, stop_loss: float | None, take_profit: float | None
) -> tuple[float | None, str]:
    if long:
        if stop_loss is not None and open_ <= stop_loss:
            return open_, "stop_loss"
        if take_profit is not None and open_ >= take_profit:
            return open_, "take_profit"
        if stop_loss is not None and low <= stop_loss:
            return stop_loss, "stop_loss"
        if take_profit is not None and high >= take_profit:
            return take_profit, "take_profit"
    else:
        if stop_loss is not None and open_ >= stop_loss:
            return open_, "stop_loss"
        if take_profit is not None and open_ <= take_profit:
            return open_, "take_profit"
        if stop_loss is not None and high >= stop_loss:
            return stop_loss, "stop_loss"
        if take_profit is not None and low <= take_profit:
            return take_profit, "take_profit"
    return None, ""
