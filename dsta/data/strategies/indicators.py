"""Indicator helpers for strategy authors: TA-Lib underneath, float64 arrays in and out, NaN during warm-up.

Every helper is causal (the value at bar t uses bars 0..t only). `resample` and `on_base` give
multi-timeframe access: a 5m strategy computes a 1h indicator on 1h bars built from its own 5m bars and
reads, at each 5m bar, the value of the last 1h bar that had closed by then (never the one still forming).
"""

from __future__ import annotations

import numpy as np

from dsta.data.bars import Bars
from dsta.data.contracts import TIMEFRAME_SECONDS
from dsta.kernel.ta_lib import load_talib


def _talib():  # type: ignore[no-untyped-def]
    return load_talib()  # on first use, and without pandas (dsta/kernel/ta_lib.py)


def sma(values: np.ndarray, period: int) -> np.ndarray:
    return np.asarray(_talib().SMA(values, timeperiod=int(period)))


def ema(values: np.ndarray, period: int) -> np.ndarray:
    return np.asarray(_talib().EMA(values, timeperiod=int(period)))


def rsi(values: np.ndarray, period: int) -> np.ndarray:
    return np.asarray(_talib().RSI(values, timeperiod=int(period)))


def atr(bars: Bars, period: int) -> np.ndarray:
    return np.asarray(_talib().ATR(bars.high, bars.low, bars.close, timeperiod=int(period)))


def true_range(bars: Bars) -> np.ndarray:
    """max(high - low, |high - previous close|, |low - previous close|); NaN at the first bar."""
    return np.asarray(_talib().TRANGE(bars.high, bars.low, bars.close))


def bollinger(values: np.ndarray, period: int, width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(upper, middle, lower): SMA(period) +/- width standard deviations (population, as TA-Lib)."""
    upper, middle, lower = _talib().BBANDS(values, timeperiod=int(period), nbdevup=width, nbdevdn=width, matype=0)
    return np.asarray(upper), np.asarray(middle), np.asarray(lower)


def macd(values: np.ndarray, fast: int, slow: int, signal: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(macd, signal, histogram) of EMA(fast) - EMA(slow)."""
    line, signal_line, histogram = _talib().MACD(
        values, fastperiod=int(fast), slowperiod=int(slow), signalperiod=int(signal)
    )
    return np.asarray(line), np.asarray(signal_line), np.asarray(histogram)


def highest(values: np.ndarray, period: int) -> np.ndarray:
    """Highest value over the last `period` bars, this bar included."""
    return np.asarray(_talib().MAX(values, timeperiod=int(period)))


def lowest(values: np.ndarray, period: int) -> np.ndarray:
    return np.asarray(_talib().MIN(values, timeperiod=int(period)))


def previous(values: np.ndarray, bars_back: int = 1) -> np.ndarray:
    """The series shifted `bars_back` bars later (NaN at the start): yesterday's value at today's bar."""
    shifted = np.full(len(values), np.nan)
    if bars_back < len(values):
        shifted[bars_back:] = values[: len(values) - bars_back]
    return shifted


def timeframe_ms(timeframe: str) -> int:
    try:
        return TIMEFRAME_SECONDS[timeframe] * 1000
    except KeyError:
        raise ValueError(f"unknown timeframe {timeframe!r}; expected one of {sorted(TIMEFRAME_SECONDS)}") from None


def resample(bars: Bars, timeframe: str) -> Bars:
    """`bars` aggregated into `timeframe` buckets on the UTC clock grid (open of the first bar, max high, min
    low, close of the last, summed volume). A first bucket the history starts inside of is dropped, so
    values never depend on where the loaded history happened to begin. The last bucket may still be forming:
    `on_base` only ever reads buckets that have closed."""
    step = timeframe_ms(timeframe)
    if step < timeframe_ms(bars.timeframe):
        raise ValueError(f"cannot resample {bars.timeframe} bars into the shorter {timeframe}")
    if len(bars) == 0:
        return bars
    bucket = bars.time_ms // step
    starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
    if bars.time_ms[0] % step:
        starts = starts[1:]
    if len(starts) == 0:
        empty = np.empty(0)
        return Bars(bars.symbol, timeframe, np.empty(0, dtype=np.int64), empty, empty, empty, empty, empty)
    first = starts[0]
    offsets = starts - first
    ends = np.concatenate((starts[1:], [len(bars)])) - 1
    return Bars(
        bars.symbol,
        timeframe,
        bucket[starts] * step,
        bars.open[starts],
        np.maximum.reduceat(bars.high[first:], offsets),
        np.minimum.reduceat(bars.low[first:], offsets),
        bars.close[ends],
        np.add.reduceat(bars.volume[first:], offsets),
    )


def on_base(bars: Bars, higher: Bars, values: np.ndarray) -> np.ndarray:
    """A `higher`-timeframe indicator (`values`, one per bar of `higher`) read at each bar of `bars`: the value
    of the last higher bar closed at that bar's close (a 1h bar counts from the close of its last 5m bar)."""
    step, base_step = timeframe_ms(higher.timeframe), timeframe_ms(bars.timeframe)
    bucket = bars.time_ms // step
    closed = np.where((bars.time_ms + base_step) // step != bucket, bucket, bucket - 1)
    position = np.searchsorted(higher.time_ms // step, closed, side="right") - 1
    aligned = np.full(len(bars), np.nan)
    known = position >= 0
    aligned[known] = np.asarray(values, dtype=np.float64)[position[known]]
    return aligned
