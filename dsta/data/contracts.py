"""Frozen dataclasses that cross the data domain's boundary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

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
    commission: Decimal = Decimal("0.001")
    slippage: Decimal = Decimal("0")
    fill_at: str = "next_open"
    engine: str = "auto"  # auto (fast path when the strategy has one), event, fast


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


class InvalidStrategyParameters(ValueError):
    """Raised by `data.api.strategy_params_validate`; `errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors
