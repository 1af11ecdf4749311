"""Frozen dataclasses that cross the data domain's boundary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from dsta.exchange.contracts import DEFAULT_COSTS
from dsta.kernel.errors import InputError

TIMEFRAME_SECONDS = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "12h": 43200,
    "1d": 86400,
}

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class CandleBar:
    exchange: str
    symbol: str
    timeframe: str
    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True)
class MarketKey:
    """One market's series: what the live feed keeps current."""

    exchange: str
    symbol: str
    timeframe: str


@dataclass(frozen=True)
class MarketFeedView:
    exchange: str
    symbol: str
    timeframe: str
    owners: tuple[str, ...]
    last_bar_time: datetime | None
    fetched_at: datetime | None
    error: str


class InvalidMarket(ValueError):
    """A market the live feed cannot follow (unknown timeframe, malformed symbol)."""


@dataclass(frozen=True)
class SeriesSummary:
    exchange: str
    symbol: str
    timeframe: str
    candles: int
    first_open_time: datetime
    last_open_time: datetime


@dataclass(frozen=True)
class ImportReport:
    exchange: str
    symbol: str
    timeframe: str
    rows_read: int
    rows_inserted: int
    rows_updated: int


class BacktestStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class StrategyParameterSpec:
    name: str
    kind: str  # "int" or "float"
    default: float
    minimum: float
    maximum: float
    description: str


@dataclass(frozen=True)
class StrategySpec:
    name: str
    version: str
    description: str
    parameters: tuple[StrategyParameterSpec, ...]
    vectorised: bool  # has a fast path
    source: str = "builtin"  # builtin | file | package
    origin: str = ""  # the file that defines it, or the distribution and entry point
    inputs: tuple[str, ...] = ()  # per-bar series it needs from outside (e.g. "prediction")


@dataclass(frozen=True)
class StrategyLoadProblem:
    """A strategy file or package that could not be loaded (the others load regardless)."""

    origin: str  # the file, or the distribution and entry point
    line: int | None
    reason: str


@dataclass(frozen=True)
class InputSeries:
    """A per-bar series a strategy reads but does not compute (its `inputs`): values by bar open time."""

    name: str
    times_ms: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class BacktestRequest:
    strategy: str
    params: dict[str, float]
    exchange: str
    symbol: str
    timeframe: str
    start: datetime | None = None
    end: datetime | None = None
    initial_cash: Decimal = Decimal("10000")
    commission: Decimal = DEFAULT_COSTS.commission  # the paper venue's numbers too: one cost model
    slippage: Decimal = DEFAULT_COSTS.slippage
    fill_at: str = "next_open"
    engine: str = "auto"  # auto (fast path when the strategy has one), event, fast
    # Two or more: one shared-cash portfolio over these symbols (`symbol` is then the first of them).
    symbols: tuple[str, ...] = ()
    # Series the strategy reads from outside, by name (e.g. ml's causal "prediction" for ml_signal).
    inputs: tuple[InputSeries, ...] = ()


@dataclass(frozen=True)
class BacktestTradeView:
    entry_time: datetime
    exit_time: datetime
    side: str
    qty: Decimal
    entry_price: Decimal
    exit_price: Decimal
    pnl: Decimal
    return_pct: float
    fees: Decimal
    exit_reason: str
    symbol: str = ""  # the traded symbol (a portfolio backtest has several)


@dataclass(frozen=True)
class BacktestSummary:
    job_id: str
    kind: str
    status: BacktestStatus
    request: BacktestRequest
    progress: float
    metrics: dict[str, float] | None
    engine_used: str
    error: str
    created_at: datetime
    finished_at: datetime | None
    report_available: bool
    strategy_version: str = ""  # hash of the strategy's source that produced the result


@dataclass(frozen=True)
class StrategySignal:
    """A strategy's decision at the close of the latest stored bar (what live and paper trading act on)."""

    strategy: str
    version: str
    params: dict[str, float]
    exchange: str
    symbol: str
    timeframe: str
    bar_time: datetime
    close: Decimal
    target: Decimal | None  # wanted exposure as a fraction of equity; None = keep the position
    order_type: str
    price: Decimal | None
    stop_loss: Decimal | None
    take_profit: Decimal | None


@dataclass(frozen=True)
class StrategyParameters:
    strategy: str
    version: str
    values: dict[str, float]


class StrategyFault(ValueError):
    """A strategy misbehaved at a bar (raised, gave a target outside [-1, 1] or NaN, or was slower than
    DSTA_STRATEGY_MAX_SECONDS_PER_BAR). Raised by `data.api.strategy_signal`; the message names the
    strategy, its file and the bar. The bot pauses that instance and notifies."""

    def __init__(self, message: str, *, strategy: str, file: str, bar: int | None):
        super().__init__(message)
        self.strategy, self.file, self.bar = strategy, file, bar


class InvalidStrategyParameters(InputError):
    """Raised by `data.api.strategy_params_validate`; `errors` maps each field to its message."""


@dataclass(frozen=True, eq=False)
class CandleFrame:
    """One series in columns, for analysis (backtests, features, metrics): float64 prices, not money.

    `open_time` is datetime64[us] in UTC; every array has the same length, in time order. Decimal stays the
    type of record (`CandleBar`); floats here only feed numerical work.
    """

    exchange: str
    symbol: str
    timeframe: str
    open_time: npt.NDArray[np.datetime64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]
    is_synthetic: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.open_time)

    def to_pandas(self) -> pd.DataFrame:
        """A DataFrame indexed by tz-aware open time (columns open, high, low, close, volume, is_synthetic)."""
        import pandas as pd  # on use only: pandas costs seconds at every process start

        index = pd.DatetimeIndex(self.open_time, name="open_time").tz_localize("UTC")
        columns = {name: getattr(self, name) for name in ("open", "high", "low", "close", "volume", "is_synthetic")}
        return pd.DataFrame(columns, index=index, copy=False)


@dataclass(frozen=True)
class QualityExample:
    open_time: datetime
    detail: str


@dataclass(frozen=True)
class QualityRule:
    rule: str
    description: str
    violations: int
    examples: list[QualityExample]


@dataclass(frozen=True)
class QualityReport:
    """Every rule's count and first examples over a series or file; rows are reported, never dropped."""

    source: str
    timeframe: str
    rows: int
    rules: list[QualityRule]

    @property
    def clean(self) -> bool:
        return all(rule.violations == 0 for rule in self.rules)


@dataclass(frozen=True)
class GapSpan:
    """Bars missing on the expected grid, `first_missing` to `last_missing` inclusive."""

    exchange: str
    symbol: str
    timeframe: str
    first_missing: datetime
    last_missing: datetime
    missing: int
    status: str = "open"
    filled_from_exchange: int = 0
    filled_synthetic: int = 0


@dataclass(frozen=True)
class PerformanceMetrics:
    """Ratios and fractions of an equity curve (floats: statistics, not money); formulas in data/analytics.py."""

    periods: int
    start: datetime
    end: datetime
    total_return: float
    annualised_return: float
    volatility: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_duration_seconds: int
    win_rate: float
    profit_factor: float
    expectancy: float
    exposure: float
    risk_free: float


@dataclass(frozen=True)
class EquityPoint:
    time: datetime
    equity: Decimal
    drawdown: float


@dataclass(frozen=True)
class CorrelationMatrix:
    """Pearson correlations of per-bar log returns: over the last `window` bars and over the whole overlap."""

    exchange: str
    timeframe: str
    symbols: list[str]
    window: int
    as_of: datetime
    bars: int
    rolling: list[list[float]]
    full_period: list[list[float]]


@dataclass(frozen=True)
class IngestionJobInfo:
    id: str
    exchange: str
    symbol: str
    timeframe: str
    mode: str
    status: str
    cursor: datetime | None
    pages: int
    bars_written: int
    error: str


@dataclass(frozen=True)
class OrderBookLevel:
    price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class OrderBookSnapshot:
    exchange: str
    symbol: str
    taken_at: datetime
    bids: list[OrderBookLevel]
    asks: list[OrderBookLevel]


@dataclass(frozen=True)
class TickerSnapshot:
    exchange: str
    symbol: str
    taken_at: datetime
    last: Decimal
    bid: Decimal | None = None
    ask: Decimal | None = None
    base_volume: Decimal | None = None


@dataclass(frozen=True)
class ReportInfo:
    id: str
    status: str
    exchange: str
    symbols: list[str]
    timeframe: str
    path: str
    error: str


@dataclass(frozen=True)
class SimulatedBook:
    """Cash and position of one simulated account between fills of the backtest engine's fill model
    (`api.backtest_fill`); the entry fields track the open round trip as the engine does."""

    cash: float
    qty: float = 0.0
    entry_index: int = -1
    cash_at_entry: float = 0.0
    entry_notional: float = 0.0
    entry_qty: float = 0.0
    fees: float = 0.0


@dataclass(frozen=True)
class TargetReplay:
    """A sequence of exposure targets run through the event-driven engine (`api.backtest_replay_targets`)."""

    equity: np.ndarray  # marked at each bar's close, the open position settled at the last close
    trades: int
    fees: float


class InvalidBacktestRequest(InputError):
    """Raised by `data.api.backtest_start`; `errors` maps each field to its message."""


@dataclass(frozen=True)
class ChartSeries:
    """The latest bars of a series with a simple moving average of the closes (None while it warms up)."""

    exchange: str
    symbol: str
    timeframe: str
    candles: tuple[CandleBar, ...]
    sma_period: int
    sma: tuple[float | None, ...]


@dataclass(frozen=True)
class EquityCurve:
    """A finished backtest's equity at each bar's close (strided to at most the asked number of points)."""

    job_id: str
    times: tuple[datetime, ...]
    equity: tuple[float, ...]


@dataclass(frozen=True)
class RoundTripStats:
    """One closed round trip for `api.performance_metrics`: indices into the equity curve, floats (statistics)."""

    entry_index: int
    exit_index: int
    qty: float
    entry_price: float
    exit_price: float
    fees: float
    pnl: float  # cash after the round trip minus cash before it
    return_pct: float  # pnl over the notional committed, in percent
    side: str = "long"
