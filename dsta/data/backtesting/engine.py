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
from dsta.data.strategies.base import HOLD, BarContext, Decision, Strategy
from dsta.data.strategies.guard import (
    StrategyFault,
    bad_decision,
    check_targets,
    decide_failed,
    fault,
    guarded_indicators,
    time_limited,
)
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
    max_seconds_per_bar: float | None = None  # a slower decide() fails the run (None: no limit)

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


class _Context(BarContext):
    """The engine's BarContext: `equity` is marked on read (cash + position at this bar's close), so the
    engine's per-bar work is setting `index`; `cash` and `position` change only when a fill does."""

    _closes: np.ndarray

    @property  # type: ignore[override]
    def equity(self) -> float:
        close: float = self._closes.item(self.index)
        return self.cash + self.position * close

    @equity.setter
    def equity(self, value: float) -> None:  # BarContext's __init__ sets it; marked on read instead
        pass


def run_event_driven(  # noqa: C901, PLR0912, PLR0915 (the per-bar loop stays in one frame: locals are fast)
    strategy: Strategy,
    bars: Bars,
    config: BacktestConfig,
    *,
    on_progress: Callable[[float], None] | None = None,
    lookup: bool = True,
) -> EngineResult:
    """Bar by bar, `decide` called at every bar's close from the warm-up on. The loop does per bar only what
    that bar can change: an order resting or a stop attached is worked (`watch`), and a decision is
    checked and acted on unless it is the very object that was last found to change nothing (`quiet`: a
    strategy that returns the same Decision again while nothing else moved). Equity is marked afterwards
    from the (cash, quantity) held after each bar that changed them, with the same arithmetic.

    A `bar_local` strategy's decisions are read per bar from its `target_exposures` (`bar_decisions`)
    instead of calling `decide`; `lookup=False` calls `decide` anyway (the parity check does)."""
    indicators = guarded_indicators(strategy, bars)
    decisions = bar_decisions(strategy, bars, indicators) if lookup else None
    opens, highs, lows, closes = bars.open, bars.high, bars.low, bars.close
    count = len(closes)
    costs = config.costs
    limit_costs = Costs(costs.commission, 0.0)  # a resting limit fills at its price
    book = Book(cash=config.initial_cash)
    # decide's per-bar view of the indicators; not needed when the decisions are looked up
    series = {name: values.tolist() for name, values in indicators.items()} if decisions is None else {}
    context = _Context(bars=bars, indicators=indicators, series=series, cash=book.cash)
    context._closes = closes
    marked_from, marked_cash, marked_qty = [0], [book.cash], [0.0]  # the book after each bar that changed it
    trades: list[TradeRecord] = []
    pending: Decision | None = None
    held_target = 0.0  # the exposure the current position was built for
    stop_loss = take_profit = None
    watch = False  # pending is not None, or the open position has a stop-loss or take-profit
    quiet: object = None  # the decision whose repeat changes nothing (until something else changes)
    warmup = max(strategy.warmup(), config.trade_from)  # before it: no decision, so nothing happens
    decide = time_limited(strategy.decide, strategy, bars, config.max_seconds_per_bar)
    next_open = config.fill_at == "next_open"

    for chunk in range(0, count, PROGRESS_EVERY):
        if on_progress is not None:
            on_progress(chunk / count)
        for t in range(max(chunk, warmup), min(chunk + PROGRESS_EVERY, count)):
            if watch:
                moved = False
                if pending is not None:
                    open_ = opens.item(t)
                    price = _fill_price(pending, open_, highs.item(t), lows.item(t), book.qty, held_target)
                    if price is not None:
                        fill_costs = limit_costs if pending.order_type == "limit" else costs
                        closed = rebalance(book, target=pending.target, price=price, index=t, costs=fill_costs)  # type: ignore[arg-type]
                        if closed is not None:
                            trades.append(closed)
                        held_target = pending.target  # type: ignore[assignment]
                        stop_loss, take_profit = pending.stop_loss, pending.take_profit
                        pending, moved = None, True
                if book.qty != 0 and (stop_loss is not None or take_profit is not None):
                    open_ = opens.item(t)
                    exit_price, reason = _protective_exit(
                        book.qty > 0, open_, highs.item(t), lows.item(t), stop_loss, take_profit
                    )
                    if exit_price is not None:
                        trades.append(
                            close_position(
                                book,
                                price=exit_price,
                                index=t,
                                costs=costs,
                                reason=reason,
                                slipped=reason == "stop_loss" or exit_price == open_,
                            )
                        )
                        held_target, stop_loss, take_profit, moved = 0.0, None, None, True
                if moved:
                    context.position, context.cash, quiet = book.qty, book.cash, None
                    marked_from.append(t)
                    marked_cash.append(book.cash)
                    marked_qty.append(book.qty)
                    watch = pending is not None or (
                        book.qty != 0 and (stop_loss is not None or take_profit is not None)
                    )
            if decisions is not None:
                decision = decisions[t]
            else:
                context.index = t
                try:
                    decision = decide(context)
                except StrategyFault:
                    raise
                except Exception as exc:
                    raise decide_failed(strategy, bars, t, exc) from exc
            if decision is quiet:
                continue
            try:
                target = decision.target
                if target is not None and not -1.0 <= target <= 1.0:  # the range test is False for NaN too
                    raise ValueError(target)
            except (AttributeError, TypeError, ValueError):
                raise bad_decision(strategy, bars, t, decision) from None
            if target is None:
                quiet = decision
                continue
            if target == held_target and decision.order_type == "market":
                pending, quiet = None, decision  # the position already is what the strategy wants
                watch = book.qty != 0 and (stop_loss is not None or take_profit is not None)
                continue
            if next_open or decision.order_type != "market":
                pending, quiet, watch = decision, decision, True
                continue
            closed = rebalance(book, target=target, price=closes.item(t), index=t, costs=costs)
            if closed is not None:
                trades.append(closed)
            held_target, stop_loss, take_profit = target, decision.stop_loss, decision.take_profit
            context.position, context.cash, quiet = book.qty, book.cash, None
            marked_from.append(t)
            marked_cash.append(book.cash)
            marked_qty.append(book.qty)
            watch = pending is not None or (book.qty != 0 and (stop_loss is not None or take_profit is not None))

    # Each bar marked with the book held after it: cash + qty * close, as the loop would have computed it.
    lengths = np.diff(np.append(np.asarray(marked_from, dtype=np.int64), count))
    equity = np.repeat(np.asarray(marked_qty), lengths)
    equity *= closes
    equity += np.repeat(np.asarray(marked_cash), lengths)
    if config.close_at_end and book.qty != 0:
        trades.append(
            close_position(book, price=closes.item(count - 1), index=count - 1, costs=costs, reason="end_of_data")
        )
        equity[-1] = book.cash
    return EngineResult(equity=equity, trades=trades, path="event")


def bar_decisions(strategy: Strategy, bars: Bars, indicators: dict[str, np.ndarray]) -> list[Decision] | None:
    """Bar t's decision for every bar of a `bar_local` strategy, from its `target_exposures`: HOLD where
    NaN, else one market Decision per distinct target (so a repeated target is the very same object, as
    a strategy returning a kept Decision gives). None when the strategy is not bar-local or not vectorised."""
    kind = type(strategy)
    if not getattr(kind, "bar_local", False) or kind.target_exposures is Strategy.target_exposures:
        return None
    try:
        raw = strategy.target_exposures(bars, indicators)
    except Exception as exc:
        raise fault(strategy, bars, None, f"target_exposures() raised {type(exc).__name__}: {exc}") from exc
    if raw is None:
        return None
    targets = check_targets(strategy, bars, raw)
    count = len(targets)
    if count == 0:
        return []
    missing = np.isnan(targets)
    # Runs of one value (NaN runs included): each run's value coded once, the codes repeated per bar.
    starts = np.flatnonzero(np.concatenate(([True], (targets[1:] != targets[:-1]) & ~(missing[1:] & missing[:-1]))))
    values, codes = np.unique(targets[starts], return_inverse=True)
    table = np.array([HOLD if value != value else Decision(target=value) for value in values.tolist()], dtype=object)
    decisions: list[Decision] = table[np.repeat(codes.ravel(), np.diff(np.append(starts, count)))].tolist()
    return decisions


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
