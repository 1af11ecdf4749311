"""Feature sets: versioned lists of TA-Lib indicators computed over a candle frame's numpy columns.

A definition never changes once shipped: a new indicator list is a new version, so stored matrices and
trained models keep naming exactly what they were built from. Every feature is causal (row t uses bars <= t).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from dsta.kernel.ta_lib import load_talib

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Indicator:
    kind: str
    params: dict[str, int | float] = field(default_factory=dict)


@dataclass(frozen=True)
class FeatureSetDefinition:
    name: str
    version: int
    indicators: tuple[Indicator, ...]

    def as_json(self) -> list[dict[str, object]]:
        return [{"kind": item.kind, "params": dict(item.params)} for item in self.indicators]


def _log_return(close: Array, period: int) -> Array:
    out = np.full_like(close, np.nan)
    out[period:] = np.log(close[period:] / close[:-period])
    return out


def _returns(o: Array, h: Array, lo: Array, c: Array, v: Array, period: int = 1) -> dict[str, Array]:
    return {f"ret_{period}": _log_return(c, period)}


def _volatility(o: Array, h: Array, lo: Array, c: Array, v: Array, period: int = 24) -> dict[str, Array]:
    talib = load_talib()

    return {f"vol_{period}": talib.STDDEV(_log_return(c, 1), timeperiod=period, nbdev=1.0)}


def _rsi(o: Array, h: Array, lo: Array, c: Array, v: Array, period: int = 14) -> dict[str, Array]:
    talib = load_talib()

    return {f"rsi_{period}": talib.RSI(c, timeperiod=period) / 100.0}


def _macd(
    o: Array, h: Array, lo: Array, c: Array, v: Array, fast: int = 12, slow: int = 26, signal: int = 9
) -> dict[str, Array]:
    talib = load_talib()

    macd, macd_signal, hist = talib.MACD(c, fastperiod=fast, slowperiod=slow, signalperiod=signal)
    # Divided by price so one model serves BTC at 90k and XRP at 2.
    return {"macd": macd / c, "macd_signal": macd_signal / c, "macd_hist": hist / c}


def _atr(o: Array, h: Array, lo: Array, c: Array, v: Array, period: int = 14) -> dict[str, Array]:
    talib = load_talib()

    return {f"atr_{period}": talib.ATR(h, lo, c, timeperiod=period) / c}


def _bollinger(
    o: Array, h: Array, lo: Array, c: Array, v: Array, period: int = 20, width: float = 2.0
) -> dict[str, Array]:
    talib = load_talib()

    upper, middle, lower = talib.BBANDS(c, timeperiod=period, nbdevup=width, nbdevdn=width)
    band = upper - lower
    with np.errstate(divide="ignore", invalid="ignore"):
        percent_b = np.where(band > 0, (c - lower) / band, 0.5)
    return {f"bb_pct_{period}": percent_b, f"bb_width_{period}": band / middle}


def _volume(o: Array, h: Array, lo: Array, c: Array, v: Array, period: int = 24) -> dict[str, Array]:
    log_volume = np.log1p(v)
    talib = load_talib()

    mean = talib.SMA(log_volume, timeperiod=period)
    spread = talib.STDDEV(log_volume, timeperiod=period, nbdev=1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        zscore = np.where(spread > 0, (log_volume - mean) / spread, 0.0)
    zscore[np.isnan(mean)] = np.nan
    return {f"volume_z_{period}": zscore}


INDICATORS: dict[str, Callable[..., dict[str, Array]]] = {
    "returns": _returns,
    "volatility": _volatility,
    "rsi": _rsi,
    "macd": _macd,
    "atr": _atr,
    "bollinger": _bollinger,
    "volume": _volume,
}

FEATURE_SETS: dict[tuple[str, int], FeatureSetDefinition] = {
    ("core", 1): FeatureSetDefinition(
        name="core",
        version=1,
        indicators=(
            Indicator("returns", {"period": 1}),
            Indicator("returns", {"period": 4}),
            Indicator("returns", {"period": 24}),
            Indicator("volatility", {"period": 24}),
            Indicator("rsi", {"period": 14}),
            Indicator("macd", {"fast": 12, "slow": 26, "signal": 9}),
            Indicator("atr", {"period": 14}),
            Indicator("bollinger", {"period": 20, "width": 2.0}),
            Indicator("volume", {"period": 24}),
        ),
    ),
}

# Bars an indicator needs before its first value: the longest look-back of any shipped set, with room to spare
# for MACD's exponential warm-up.
WARMUP_BARS = 120


def definition_get(name: str, version: int) -> FeatureSetDefinition:
    try:
        return FEATURE_SETS[(name, version)]
    except KeyError:
        raise KeyError(f"unknown feature set {name} v{version}") from None


def compute(
    definition: FeatureSetDefinition, *, open: Array, high: Array, low: Array, close: Array, volume: Array
) -> tuple[list[str], npt.NDArray[np.float64]]:
    """Column names and a (bars x features) float64 matrix; rows inside an indicator's warm-up hold NaN."""
    columns: list[str] = []
    arrays: list[Array] = []
    prices = (
        np.ascontiguousarray(open, dtype=np.float64),
        np.ascontiguousarray(high, dtype=np.float64),
        np.ascontiguousarray(low, dtype=np.float64),
        np.ascontiguousarray(close, dtype=np.float64),
        np.ascontiguousarray(volume, dtype=np.float64),
    )
    for indicator in definition.indicators:
        for name, values in INDICATORS[indicator.kind](*prices, **indicator.params).items():
            columns.append(name)
            arrays.append(values)
    if not arrays:
        return columns, np.empty((len(close), 0))
    return columns, np.column_stack(arrays)
