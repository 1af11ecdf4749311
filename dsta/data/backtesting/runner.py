"""Runs one backtest from a request: loads bars, picks the engine, computes metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dsta.data.backtesting.engine import BacktestConfig, EngineResult, run_event_driven
from dsta.data.backtesting.metrics import Metrics, compute_metrics
from dsta.data.backtesting.portfolio import run_shared_cash
from dsta.data.backtesting.vectorized import run_vectorised
from dsta.data.bars import Bars, load_bars
from dsta.data.contracts import TIMEFRAME_SECONDS, BacktestRequest
from dsta.data.strategies.base import InvalidParameters, Strategy
from dsta.data.strategies.guard import StrategyFault
from dsta.data.strategies.registry import strategy_build
from dsta.kernel.errors import InputError

PEER_CLOSE = "peer_close"  # the input a two-symbol (pairs) strategy reads: the other symbol's close

ENGINES = ("auto", "event", "fast")
MAX_PORTFOLIO_SYMBOLS = 10


class BacktestInputError(InputError):
    """A backtest request the engine cannot run as given (inside the data domain)."""


@dataclass(frozen=True)
class RunOutcome:
    bars: Bars  # a portfolio's: its time line, with the equal-weight basket (rebased to 100) as prices
    result: EngineResult  # a portfolio's trade indices point into that time line
    metrics: Metrics
    trade_symbols: list[str] = field(default_factory=list)  # a portfolio's: the symbol of each trade
    bars_by_symbol: dict[str, Bars] = field(default_factory=dict)  # a portfolio's own bars per symbol


def max_seconds_per_bar() -> float | None:
    """DSTA_STRATEGY_MAX_SECONDS_PER_BAR: a decide() slower than this fails the backtest (unset or 0: none)."""
    import os

    raw = os.environ.get("DSTA_STRATEGY_MAX_SECONDS_PER_BAR", "").strip()
    if not raw:
        return None
    try:
        return float(raw) or None
    except ValueError:
        raise BacktestInputError({"config": f"DSTA_STRATEGY_MAX_SECONDS_PER_BAR={raw!r} is not a number"}) from None


def config_for(request: BacktestRequest) -> BacktestConfig:
    try:
        return BacktestConfig(
            initial_cash=float(request.initial_cash),
            commission=float(request.commission),
            slippage=float(request.slippage),
            fill_at=request.fill_at,
            max_seconds_per_bar=max_seconds_per_bar(),
        )
    except ValueError as exc:
        raise BacktestInputError({"config": str(exc)}) from exc


def validate(request: BacktestRequest) -> Strategy:
    errors: dict[str, str] = {}
    if request.timeframe not in TIMEFRAME_SECONDS:
        errors["timeframe"] = f"unknown timeframe; expected one of {sorted(TIMEFRAME_SECONDS)}"
    if request.engine not in ENGINES:
        errors["engine"] = f"must be one of {ENGINES}"
    if request.start and request.end and request.start >= request.end:
        errors["end"] = "must be after start"
    if request.symbols:
        if len(set(request.symbols)) != len(request.symbols) or request.symbol != request.symbols[0]:
            errors["symbols"] = "each symbol once, the first one also given as symbol"
        elif not 2 <= len(request.symbols) <= MAX_PORTFOLIO_SYMBOLS:
            errors["symbols"] = f"a portfolio has 2 to {MAX_PORTFOLIO_SYMBOLS} symbols"
        if request.engine == "fast":
            errors["engine"] = "a portfolio backtest runs bar by bar across its symbols: use auto or event"
    try:
        strategy = build_strategy(request)
    except InvalidParameters as exc:
        errors.update({key if key == "strategy" else f"params.{key}": value for key, value in exc.errors.items()})
    else:
        errors.update(_inputs_problems(request, strategy))
    if errors:
        raise BacktestInputError(errors)
    if request.engine == "fast" and type(strategy).target_exposures is Strategy.target_exposures:
        raise BacktestInputError({"engine": f"{request.strategy} has no fast path; use engine=event or auto"})
    config_for(request)
    return strategy


def build_strategy(request: BacktestRequest) -> Strategy:
    """The request's strategy with its parameters and the outside series it was given."""
    strategy = strategy_build(request.strategy, dict(request.params))
    for series in request.inputs:
        strategy.provide(series.name, np.array(series.times_ms, dtype=np.int64), np.array(series.values))
    return strategy


def _inputs_problems(request: BacktestRequest, strategy: Strategy) -> dict[str, str]:
    given = {series.name for series in request.inputs}
    if len(given) != len(request.inputs):
        return {"inputs": "each input series once"}
    if request.symbols and given:
        return {"inputs": "a portfolio backtest takes no input series"}
    unknown = given - set(strategy.inputs)
    if unknown:
        return {"inputs": f"{request.strategy} reads no input {sorted(unknown)}; it reads {list(strategy.inputs)}"}
    needed = [name for name in strategy.inputs if name not in given]
    if PEER_CLOSE in needed:
        if len(request.symbols) != 2:
            return {"symbols": f"{request.strategy} trades a pair: give exactly two symbols"}
        needed.remove(PEER_CLOSE)
    if needed:
        hint = " (its backtest runs through ml: manage.py ml_signal_backtest MODEL)"
        return {
            "inputs": f"{request.strategy} needs the input series {needed}" + (hint if "prediction" in needed else "")
        }
    return {}


def run_on_bars(
    strategy: Strategy,
    bars: Bars,
    config: BacktestConfig,
    *,
    engine: str,
    on_progress: Callable[[float], None] | None = None,
) -> EngineResult:
    if uses_fast_path(strategy, engine):
        return run_vectorised(strategy, bars, config)
    return run_event_driven(strategy, bars, config, on_progress=on_progress)


def uses_fast_path(strategy: Strategy, engine: str) -> bool:
    vectorisable = type(strategy).target_exposures is not Strategy.target_exposures
    return engine == "fast" or (engine == "auto" and vectorisable)


def run_request(request: BacktestRequest, *, on_progress: Callable[[float], None] | None = None) -> RunOutcome:
    """Run the request; a misbehaving strategy (see strategies.guard) fails it with a `strategy` error."""
    try:
        return _run_request(request, on_progress=on_progress)
    except StrategyFault as exc:
        raise BacktestInputError({"strategy": str(exc)}) from exc


def _run_request(request: BacktestRequest, *, on_progress: Callable[[float], None] | None = None) -> RunOutcome:
    strategy = validate(request)
    if request.symbols:
        return _run_portfolio_request(request)
    bars = load_bars(
        exchange=request.exchange,
        symbol=request.symbol,
        timeframe=request.timeframe,
        start=request.start,
        end=request.end,
    )
    if len(bars) <= strategy.warmup() + 1:
        raise BacktestInputError(
            {
                "symbol": f"only {len(bars)} stored bars for {request.symbol} "
                f"{request.timeframe} in that range; the strategy needs more than "
                f"{strategy.warmup() + 1}"
            }
        )
    result = run_on_bars(strategy, bars, config_for(request), engine=request.engine, on_progress=on_progress)
    metrics = compute_metrics(
        equity=result.equity,
        closes=bars.close,
        trades=result.trades,
        timeframe_seconds=TIMEFRAME_SECONDS[request.timeframe],
    )
    return RunOutcome(bars=bars, result=result, metrics=metrics)


def _run_portfolio_request(request: BacktestRequest) -> RunOutcome:
    """One shared-cash account over `request.symbols` (see `portfolio.run_shared_cash`)."""
    bars_by_symbol = {}
    strategies = {}
    for symbol in request.symbols:
        strategy = build_strategy(request)
        bars = load_bars(
            exchange=request.exchange, symbol=symbol, timeframe=request.timeframe, start=request.start, end=request.end
        )
        if len(bars) <= strategy.warmup() + 1:
            raise BacktestInputError(
                {
                    "symbols": f"only {len(bars)} stored bars for {symbol} {request.timeframe} in that range;"
                    f" the strategy needs more than {strategy.warmup() + 1}"
                }
            )
        bars_by_symbol[symbol], strategies[symbol] = bars, strategy
    for symbol, strategy in strategies.items():
        if PEER_CLOSE in strategy.inputs:
            (peer,) = (other for other in request.symbols if other != symbol)
            strategy.provide(PEER_CLOSE, bars_by_symbol[peer].time_ms, bars_by_symbol[peer].close)
    run = run_shared_cash(strategies=strategies, bars_by_symbol=bars_by_symbol, config=config_for(request))
    basket = _equal_weight_basket(run.times_ms, bars_by_symbol)
    timeline = Bars("portfolio", request.timeframe, run.times_ms, basket, basket, basket, basket, np.zeros(len(basket)))
    result = EngineResult(equity=run.equity, trades=run.trades, path="portfolio")
    metrics = compute_metrics(
        equity=run.equity, closes=basket, trades=run.trades, timeframe_seconds=TIMEFRAME_SECONDS[request.timeframe]
    )
    return RunOutcome(timeline, result, metrics, trade_symbols=run.trade_symbols, bars_by_symbol=bars_by_symbol)


def _equal_weight_basket(times_ms: np.ndarray, bars_by_symbol: dict[str, Bars]) -> np.ndarray:
    """Equal money in each symbol at its first close, held: the buy-and-hold benchmark, rebased to 100.
    Between a symbol's own bars (and before its first) its last known (first) close stands."""
    total = np.zeros(len(times_ms))
    for bars in bars_by_symbol.values():
        position = np.clip(np.searchsorted(bars.time_ms, times_ms, side="right") - 1, 0, None)
        total += bars.close[position] / bars.close[0]
    return total / len(bars_by_symbol) * 100
