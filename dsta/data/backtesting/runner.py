"""Runs one backtest from a request: loads bars, picks the engine, computes metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dsta.data.backtesting.engine import BacktestConfig, EngineResult, run_event_driven
from dsta.data.backtesting.metrics import Metrics, compute_metrics
from dsta.data.backtesting.vectorized import run_vectorised
from dsta.data.bars import Bars, load_bars
from dsta.data.contracts import TIMEFRAME_SECONDS, BacktestRequest
from dsta.data.strategies.base import InvalidParameters, Strategy
from dsta.data.strategies.registry import strategy_build

ENGINES = ("auto", "event", "fast")


class BacktestInputError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class RunOutcome:
    bars: Bars
    result: EngineResult
    metrics: Metrics


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
    vectorisable = type(strategy).target_exposures is not Strategy.target_exposures
    if engine == "fast" or (engine == "auto" and vectorisable):
        return run_vectorised(strategy, bars, config)
    return run_event_driven(strategy, bars, config, on_progress=on_progress)


def run_request(request: BacktestRequest, *, on_progress: Callable[[float], None] | None = None) -> RunOutcome:
    strategy = validate(request)
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
