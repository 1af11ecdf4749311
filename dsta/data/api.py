"""Facade of the data domain: the only entry other domains use."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import numpy as np

from dsta.data import selectors, services
from dsta.data.contracts import (
    BacktestRequest,
    BacktestSummary,
    BacktestTradeView,
    CandleBar,
    CandleFrame,
    ChartSeries,
    EquityCurve,
    GapSpan,
    InputSeries,
    InvalidStrategyParameters,
    MarketFeedView,
    MarketKey,
    OrderBookSnapshot,
    QualityReport,
    RoundTripStats,
    SeriesSummary,
    SimulatedBook,
    StrategyLoadProblem,
    StrategyParameters,
    StrategySignal,
    StrategySpec,
    TargetReplay,
    TickerSnapshot,
)
from dsta.exchange.contracts import DEFAULT_COSTS


def candles_get(
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
) -> list[CandleBar]:
    """Bars of one series in time order, `start` inclusive and `end` exclusive."""
    return selectors.candles_list(
        exchange=exchange, symbol=symbol, timeframe=timeframe, start=start, end=end, limit=limit
    )


def newest_bar_times(*, markets: list[MarketKey]) -> list[datetime | None]:
    """For each market, the open time of its newest stored bar (None: none), in the order given; one read
    however many markets (a close of many markets asks once whether each of its bars is still the newest)."""
    return selectors.newest_bar_times(markets=markets)


def candles_frame(
    *, exchange: str, symbol: str, timeframe: str, start: datetime | None = None, end: datetime | None = None
) -> CandleFrame:
    """One series as numpy columns (float64, for analysis), `start` inclusive and `end` exclusive."""
    return selectors.candles_frame(exchange=exchange, symbol=symbol, timeframe=timeframe, start=start, end=end)


def series_list() -> list[SeriesSummary]:
    """Every stored (exchange, symbol, timeframe) series with its size and time range."""
    return selectors.series_list()


def candle_close(*, bar: CandleBar) -> None:
    """Record a closed bar; publishes `data.candle_closed` atomically with the write."""
    services.candle_close(bar=bar)


def markets_track(*, owner: str, markets: list[MarketKey]) -> int:
    """Declare the whole set of markets `owner` needs kept current (replaces its earlier set; [] drops them).

    The live feed fetches each newly closed bar of every tracked market and publishes `data.candle_closed`
    once per bar (see dsta/data/live.py for the back-fill policy). Raises InvalidMarket on a bad market."""
    from dsta.data import live

    return live.markets_track(owner=owner, markets=markets)


def markets_tracked() -> list[MarketFeedView]:
    """Every tracked market with its owners and the live feed's cursor."""
    from dsta.data import live

    return live.markets_tracked()


def strategies_list() -> list[StrategySpec]:
    """Every strategy the platform can run, with its version and parameter ranges."""
    from dsta.data.strategies.registry import strategy_specs

    return strategy_specs()


def strategy_problems_list() -> list[StrategyLoadProblem]:
    """Strategy files and packages that failed to load, each with its file, line and reason."""
    from dsta.data.strategies.registry import strategy_problems

    return strategy_problems()


def strategy_signal(
    *,
    strategy: str,
    params: dict[str, float],
    exchange: str,
    symbol: str,
    timeframe: str,
    as_of: datetime | None = None,
    position: Decimal = Decimal("0"),
    inputs: tuple[InputSeries, ...] = (),
) -> StrategySignal:
    """Ask a strategy for its decision at the latest bar closed at or before `as_of`: the same `decide()` the
    backtest engine calls, on the same bars, so live and backtest decisions cannot drift apart. `inputs` are
    the outside series the strategy reads (its spec's `inputs`, e.g. ml_signal's "prediction" for this bar,
    from `ml.api.ml_signal_prediction`). The signal's `version` is the hash of the strategy's source. Raises
    InvalidStrategyParameters (unknown strategy or parameter, a missing input), ValueError (too few bars) and
    StrategyFault (the strategy raised, or gave a target outside [-1, 1] or NaN: the bot pauses the instance)."""
    from dsta.data.strategies.base import InvalidParameters
    from dsta.data.strategies.live import signal_at

    try:
        return signal_at(
            strategy=strategy,
            params=params,
            exchange=exchange,
            symbol=symbol,
            timeframe=timeframe,
            as_of=as_of,
            position=position,
            inputs=inputs,
        )
    except InvalidParameters as exc:
        raise InvalidStrategyParameters(exc.errors) from None


def backtest_run(*, request: BacktestRequest, user_id: int | None = None) -> BacktestSummary:
    """Run a backtest now (in this process) and return its stored summary with metrics. Bad input raises
    InvalidBacktestRequest; a run that fails (e.g. a misbehaving strategy) returns status `failed` and the
    error naming the strategy, its file and the bar."""
    from dsta.data.backtesting import results

    return results.backtest_run(request=request, user_id=user_id)


def backtest_get(*, job_id: str) -> BacktestSummary | None:
    from dsta.data.backtesting import results

    return results.backtest_get(job_id=job_id)


def backtest_trades(*, job_id: str) -> list[BacktestTradeView]:
    from dsta.data.backtesting import results

    return results.backtest_trades(job_id=job_id)


def strategy_params_validate(*, strategy: str, params: dict[str, float]) -> StrategyParameters:
    """Check parameters against the strategy's ranges and rules; returns them typed, defaults filled in."""
    from dsta.data.strategies.base import InvalidParameters
    from dsta.data.strategies.registry import strategy_entry

    try:
        entry = strategy_entry(strategy)
        return StrategyParameters(
            strategy=entry.name, version=entry.version, values=dict(entry.cls.validate(dict(params)))
        )
    except InvalidParameters as exc:
        raise InvalidStrategyParameters(exc.errors) from None


def quality_report(*, exchange: str, symbol: str, timeframe: str, outlier_z: float = 10.0) -> QualityReport:
    """Counts and first examples per validation rule over a stored series (nothing is dropped)."""
    return selectors.quality_report_series(exchange=exchange, symbol=symbol, timeframe=timeframe, outlier_z=outlier_z)


def gaps_find(
    *, exchange: str, symbol: str, timeframe: str, start: datetime | None = None, end: datetime | None = None
) -> list[GapSpan]:
    """Runs of bars missing on the series' grid: between its first and last bar, or over [start, end)."""
    return selectors.gaps_find(exchange=exchange, symbol=symbol, timeframe=timeframe, start=start, end=end)


def order_book_record(*, snapshot: OrderBookSnapshot) -> None:
    services.order_book_record(snapshot=snapshot)


def order_book_latest(*, exchange: str, symbol: str) -> OrderBookSnapshot | None:
    return selectors.order_book_latest(exchange=exchange, symbol=symbol)


def ticker_record(*, ticker: TickerSnapshot) -> None:
    services.ticker_record(ticker=ticker)


def ticker_latest(*, exchange: str, symbol: str) -> TickerSnapshot | None:
    return selectors.ticker_latest(exchange=exchange, symbol=symbol)


def backtest_fill(
    *, book: SimulatedBook, target: float, price: float, index: int, commission: float, slippage: float
) -> SimulatedBook:
    """Move `book` to `target` (signed fraction of equity) with one market fill at `price`, costed exactly as
    the backtest engine fills (commission on notional, slippage against the trader)."""
    from dsta.data.backtesting.replay import fill_market

    return fill_market(book, target=target, price=price, index=index, commission=commission, slippage=slippage)


def backtest_replay_targets(
    *,
    open: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    targets: np.ndarray,
    initial_cash: float = 10_000.0,
    commission: float = float(DEFAULT_COSTS.commission),
    slippage: float = float(DEFAULT_COSTS.slippage),
) -> TargetReplay:
    """Run exposure targets (one per bar, decided at its close; NaN holds) through the event-driven engine:
    fills at the next bar's open, the position settled at the last close. Raises ValueError on bad shapes."""
    from dsta.data.backtesting.replay import replay_targets

    return replay_targets(
        open=open,
        high=high,
        low=low,
        close=close,
        targets=targets,
        initial_cash=initial_cash,
        commission=commission,
        slippage=slippage,
    )


def backtest_start(*, request: BacktestRequest, user_id: int | None = None) -> BacktestSummary:
    """Queue a backtest for the worker pool and return its summary at once (status `queued`); poll
    `backtest_get` for progress. Raises InvalidBacktestRequest on bad input."""
    from dsta.data.backtesting import results

    return results.backtest_start(request=request, user_id=user_id)


def backtest_report_html(*, job_id: str) -> str | None:
    """The finished backtest's HTML report (price with trades, equity, drawdown, trade list), or None."""
    from dsta.data.backtesting import results

    return results.backtest_report_html(job_id=job_id)


def chart_series(*, exchange: str, symbol: str, timeframe: str, bars: int = 300, sma_period: int = 20) -> ChartSeries:
    """The last `bars` candles and their SMA(`sma_period`) of the close, for a chart."""
    from dsta.data.charts import chart_series as series

    return series(exchange=exchange, symbol=symbol, timeframe=timeframe, bars=bars, sma_period=sma_period)


def backtest_equity(*, job_id: str, points: int = 1_000) -> EquityCurve | None:
    """A finished backtest's equity curve (None before it finishes), strided to at most `points` points."""
    from dsta.data.backtesting import results

    return results.backtest_equity(job_id=job_id, points=points)


def strategy_warmup(*, strategy: str, params: dict[str, float]) -> int:
    """How many bars the strategy needs before its first decision (the backtest decides first at that index).
    Raises InvalidStrategyParameters on a bad strategy or parameters."""
    from dsta.data.strategies.base import InvalidParameters
    from dsta.data.strategies.registry import strategy_build

    try:
        return strategy_build(strategy, dict(params)).warmup()
    except InvalidParameters as exc:
        raise InvalidStrategyParameters(exc.errors) from None


def performance_metrics(
    *,
    equity: list[float],
    closes: list[float],
    trades: list[RoundTripStats],
    timeframe: str,
) -> dict[str, float | int]:
    """The backtest's metrics (same names, same code) of any equity curve marked at each bar's close and its
    closed round trips (indices into that curve), e.g. a live strategy's own fills."""
    import numpy as np

    from dsta.data.backtesting.accounting import TradeRecord
    from dsta.data.backtesting.metrics import compute_metrics
    from dsta.data.contracts import TIMEFRAME_SECONDS

    if not equity:
        raise ValueError("an equity curve needs at least one point")
    records = [
        TradeRecord(
            entry_index=trade.entry_index,
            exit_index=trade.exit_index,
            side=trade.side,
            qty=trade.qty,
            entry_price=trade.entry_price,
            exit_price=trade.exit_price,
            fees=trade.fees,
            pnl=trade.pnl,
            return_pct=trade.return_pct,
            exit_reason="signal",
        )
        for trade in trades
    ]
    return compute_metrics(
        equity=np.asarray(equity, dtype=np.float64),
        closes=np.asarray(closes, dtype=np.float64),
        trades=records,
        timeframe_seconds=TIMEFRAME_SECONDS[timeframe],
    ).as_dict()
