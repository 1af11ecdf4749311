"""Several symbols in one backtest, two ways:

- `run_shared_cash`: one cash account, a position per symbol, targets sized on the whole account's equity,
  events in time order across the symbols (what the API and `manage.py backtest --symbol A --symbol B` run);
- `run_portfolio`: fixed-weight sleeves, each symbol trading its own share of the capital through the
  single-symbol engines; the portfolio is the sum of the sleeves on the union of bar times."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import msgspec
import numpy as np

from dsta.data.backtesting.accounting import Book, Costs, TradeRecord, close_position, rebalance
from dsta.data.backtesting.engine import BacktestConfig, EngineResult, _fill_price, _protective_exit
from dsta.data.bars import Bars
from dsta.data.strategies.base import BarContext, Decision, Strategy
from dsta.data.strategies.guard import StrategyFault, bad_decision, decide_failed, guarded_indicators, time_limited

RunEngine = Callable[[Strategy, Bars, BacktestConfig], EngineResult]


@dataclass(frozen=True)
class PortfolioResult:
    times_ms: np.ndarray
    equity: np.ndarray  # total of the sleeves at each time
    sleeves: dict[str, EngineResult]
    weights: dict[str, float]


def run_portfolio(
    *,
    build: Callable[[], Strategy],
    bars_by_symbol: Mapping[str, Bars],
    config: BacktestConfig,
    run: RunEngine,
    weights: Mapping[str, float] | None = None,
) -> PortfolioResult:
    if not bars_by_symbol:
        raise ValueError("give at least one symbol")
    weights = dict(weights or {symbol: 1 / len(bars_by_symbol) for symbol in bars_by_symbol})
    if set(weights) != set(bars_by_symbol) or any(w <= 0 for w in weights.values()):
        raise ValueError("weights must be positive and name exactly the symbols traded")
    if abs(sum(weights.values()) - 1) > 1e-9:
        raise ValueError("weights must sum to 1")
    sleeves = {
        symbol: run(build(), bars, replace(config, initial_cash=config.initial_cash * weights[symbol]))
        for symbol, bars in bars_by_symbol.items()
    }
    times = np.unique(np.concatenate([bars.time_ms for bars in bars_by_symbol.values()]))
    total = np.zeros(len(times))
    for symbol, result in sleeves.items():
        own_times = bars_by_symbol[symbol].time_ms
        # Last own bar at or before each portfolio time; before its first bar a sleeve is still all cash.
        position = np.searchsorted(own_times, times, side="right") - 1
        sleeve_cash = config.initial_cash * weights[symbol]
        total += np.where(position >= 0, result.equity[np.maximum(position, 0)], sleeve_cash)
    return PortfolioResult(times_ms=times, equity=total, sleeves=sleeves, weights=weights)


# --- one account for all symbols -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SharedCashResult:
    times_ms: np.ndarray  # the union of the symbols' bar times
    equity: np.ndarray  # cash + every position marked at its latest close, at each time
    cash: np.ndarray  # the one cash account after each time's fills
    trades: list[TradeRecord]  # in the order they closed; indices point into `times_ms`
    trade_symbols: list[str]  # the symbol of each trade


@dataclass
class _Leg:
    """One symbol's strategy, bars and position inside the shared account."""

    symbol: str
    bars: Bars
    strategy: Strategy
    context: BarContext
    opens: list[float]
    highs: list[float]
    lows: list[float]
    closes: list[float]
    warmup: int
    decide: Callable[[BarContext], Decision]
    book: Book = field(default_factory=lambda: Book(cash=0.0))
    pending: Decision | None = None
    held_target: float = 0.0
    stop_loss: float | None = None
    take_profit: float | None = None
    mark: float = 0.0  # latest price seen (open after the fills, close after the decision)
    cursor: int = 0  # this symbol's next bar


def run_shared_cash(
    *, strategies: Mapping[str, Strategy], bars_by_symbol: Mapping[str, Bars], config: BacktestConfig
) -> SharedCashResult:
    """Several symbols trading from one cash account, bar by bar in time order across all of them.

    The engine's rules per symbol (orders decided at a close fill at the next open of that symbol, or at
    the close with fill_at="close"; stop-loss/take-profit as in the engine; commission and slippage), with
    the engine's own fill arithmetic (`accounting`). What changes is the account: a target is a fraction of
    the whole account's equity (cash plus every position at its latest price), and a buy never spends more
    than the cash on hand, so the account never borrows. At each time, every symbol's open-side events
    (fills, protective exits) happen before any symbol's close-side decision; symbols are taken in the
    order given. With one symbol this is exactly `run_event_driven`."""
    if not bars_by_symbol or set(strategies) != set(bars_by_symbol):
        raise ValueError("give one strategy per symbol, and at least one symbol")
    costs = config.costs
    limit_costs = Costs(costs.commission, 0.0)
    next_open = config.fill_at == "next_open"
    legs = []
    for symbol, bars in bars_by_symbol.items():
        strategy = strategies[symbol]
        indicators = guarded_indicators(strategy, bars)
        series = {name: values.tolist() for name, values in indicators.items()}
        context = BarContext(bars=bars, indicators=indicators, series=series, cash=0.0, equity=0.0)
        legs.append(
            _Leg(
                symbol,
                bars,
                strategy,
                context,
                opens=bars.open.tolist(),
                highs=bars.high.tolist(),
                lows=bars.low.tolist(),
                closes=bars.close.tolist(),
                warmup=max(strategy.warmup(), config.trade_from),
                decide=time_limited(strategy.decide, strategy, bars, config.max_seconds_per_bar),
            )
        )
    times = np.unique(np.concatenate([bars.time_ms for bars in bars_by_symbol.values()]))
    time_list = times.tolist()
    equity, cash_after = np.empty(len(times)), np.empty(len(times))
    trades: list[TradeRecord] = []
    trade_symbols: list[str] = []
    bar_index: list[list[int]] = [[] for _ in legs]  # per leg: the portfolio index of each own bar
    cash = config.initial_cash

    def settle(leg: _Leg, closed: TradeRecord | None) -> None:
        """Take the leg's cash movement into the account; other open positions' round trips must not count
        it, so their entry cash moves with it."""
        nonlocal cash
        moved = leg.book.cash - cash
        cash = leg.book.cash
        if moved:
            for other in legs:
                if other is not leg and other.book.qty != 0:
                    other.book.cash_at_entry += moved
        if closed is not None:
            trades.append(_on_timeline(closed, bar_index[legs.index(leg)]))
            trade_symbols.append(leg.symbol)

    def others_value(leg: _Leg) -> float:
        value = 0.0
        for other in legs:
            if other is not leg and other.book.qty != 0:
                value += other.book.qty * other.mark
        return value

    for position, moment in enumerate(time_list):
        active = []
        for number, leg in enumerate(legs):
            if leg.cursor < len(leg.closes) and int(leg.bars.time_ms[leg.cursor]) == moment:
                active.append(leg)
                bar_index[number].append(position)
        for leg in active:
            leg.mark = leg.opens[leg.cursor]
        for leg in active:  # the open: fills of the decisions taken at the previous close, then protective exits
            t, book = leg.cursor, leg.book
            if leg.pending is not None:
                price = _fill_price(leg.pending, leg.opens[t], leg.highs[t], leg.lows[t], book.qty, leg.held_target)
                if price is not None:
                    book.cash = cash
                    fill_costs = limit_costs if leg.pending.order_type == "limit" else costs
                    closed = rebalance(
                        book,
                        target=leg.pending.target,  # type: ignore[arg-type]
                        price=price,
                        index=t,
                        costs=fill_costs,
                        other_value=others_value(leg),
                        cap_to_cash=True,
                    )
                    settle(leg, closed)
                    leg.held_target = leg.pending.target  # type: ignore[assignment]
                    leg.stop_loss, leg.take_profit = leg.pending.stop_loss, leg.pending.take_profit
                    leg.pending = None
            if book.qty != 0 and (leg.stop_loss is not None or leg.take_profit is not None):
                exit_price, reason = _protective_exit(
                    book.qty > 0, leg.opens[t], leg.highs[t], leg.lows[t], leg.stop_loss, leg.take_profit
                )
                if exit_price is not None:
                    book.cash = cash
                    closed = close_position(
                        book,
                        price=exit_price,
                        index=t,
                        costs=costs,
                        reason=reason,
                        slipped=reason == "stop_loss" or exit_price == leg.opens[t],
                    )
                    settle(leg, closed)
                    leg.held_target, leg.stop_loss, leg.take_profit = 0.0, None, None
        for leg in active:
            leg.mark = leg.closes[leg.cursor]
        for leg in active:  # the close: mark, decide
            t, book = leg.cursor, leg.book
            leg.cursor += 1
            if t < leg.warmup:
                continue
            total = _equity(cash, legs)
            context = leg.context
            context.index, context.position, context.cash, context.equity = t, book.qty, cash, total
            try:
                decision = leg.decide(context)
            except StrategyFault:
                raise
            except Exception as exc:
                raise decide_failed(leg.strategy, leg.bars, t, exc) from exc
            try:
                target = decision.target
                if target is not None and not -1.0 <= target <= 1.0:  # the range test is False for NaN too
                    raise ValueError(target)
            except (AttributeError, TypeError, ValueError):
                raise bad_decision(leg.strategy, leg.bars, t, decision) from None
            if target is None:
                continue
            if target == leg.held_target and decision.order_type == "market":
                leg.pending = None
                continue
            if next_open or decision.order_type != "market":
                leg.pending = decision
                continue
            book.cash = cash
            closed = rebalance(
                book,
                target=target,
                price=leg.closes[t],
                index=t,
                costs=costs,
                other_value=others_value(leg),
                cap_to_cash=True,
            )
            settle(leg, closed)
            leg.held_target, leg.stop_loss, leg.take_profit = target, decision.stop_loss, decision.take_profit
        equity[position] = _equity(cash, legs)
        cash_after[position] = cash

    if config.close_at_end:
        for leg in legs:
            if leg.book.qty != 0:
                leg.book.cash = cash
                last = len(leg.closes) - 1
                closed = close_position(leg.book, price=leg.closes[last], index=last, costs=costs, reason="end_of_data")
                settle(leg, closed)
        equity[-1] = _equity(cash, legs)
        cash_after[-1] = cash
    return SharedCashResult(times, equity, cash_after, trades, trade_symbols)


def _equity(cash: float, legs: list[_Leg]) -> float:
    total = cash
    for leg in legs:
        if leg.book.qty != 0:
            total += leg.book.qty * leg.mark
    return total


def _on_timeline(trade: TradeRecord, own_to_portfolio: list[int]) -> TradeRecord:
    return msgspec.structs.replace(
        trade, entry_index=own_to_portfolio[trade.entry_index], exit_index=own_to_portfolio[trade.exit_index]
    )
