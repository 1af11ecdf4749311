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
from dsta.data.strategies.registry import strategy_build

ENGINES = ("auto", "event", "fast")
MAX_PORTFOLIO_SYMBOLS = 10


class BacktestInputError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class RunOutcome:
    bars: Bars  # a portfolio's: its time line, with the equal-weight basket (rebased to 100) as prices
    result: EngineResult  # a portfolio's trade indices point into that time line
    metrics: Metrics
    trade_symbols: list[str] = field(default_factory=list)  # a portfolio's: the symbol of each trade
    bars_by_symbol: dict[str, Bars] = field(default_factory=dict)  # a portfolio's own bars per symbol


def config_for(request: BacktestRequest) -> BacktestConfig:
    try:
        return BacktestConfig(
            initial_cash=float(request.initial_cash),
            commission=float(request.commission),
            slippage=float(request.slippage),
            fill_at=request.fill_at,
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
        strategy = strategy_build(request.strategy, dict(request.params))
    except InvalidParameters as exc:
        errors.update({key if key == "strategy" else f"params.{key}": value for key, value in exc.errors.items()})
    if errors:
        raise BacktestInputError(errors)
    if request.engine == "fast" and type(strategy).target_exposures is Strategy.target_exposures:
        raise BacktestInputError({"engine": f"{request.strategy} has no fast path; use engine=event or auto"})
    config_for(request)
    return strategy


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
        strategy = strategy_build(request.strategy, dict(request.params))
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
