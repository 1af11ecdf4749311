"""Strategy decisions on live data: the latest stored bars, the strategy's own `decide()`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from dsta.data.bars import load_bars
from dsta.data.contracts import TIMEFRAME_SECONDS, InputSeries, StrategySignal
from dsta.data.strategies.base import BarContext, InvalidParameters
from dsta.data.strategies.guard import StrategyFault, bad_decision, decide_failed, guarded_indicators
from dsta.data.strategies.registry import strategy_entry

HISTORY_FACTOR = 3  # bars loaded per bar of warm-up, so recursive indicators (EMA, RSI) settle


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value))


def signal_at(
    *,
    strategy: str,
    params: dict[str, float],
    exchange: str,
    symbol: str,
    timeframe: str,
    as_of: datetime | None,
    position: Decimal,
    inputs: tuple[InputSeries, ...] = (),
) -> StrategySignal:
    """Raises InvalidParameters (unknown strategy, bad parameters, missing input), ValueError (too few bars)
    and StrategyFault (the strategy raised or returned a target outside [-1, 1])."""
    entry = strategy_entry(strategy)  # once per decision: each registry lookup checks the strategy files
    built = entry.cls(**dict(params))
    for series in inputs:
        built.provide(series.name, np.array(series.times_ms, dtype=np.int64), np.array(series.values))
    missing = [name for name in built.inputs if name not in {series.name for series in inputs}]
    if missing:
        raise InvalidParameters({"inputs": f"{strategy} needs the input series {missing} for this bar"})
    step = timedelta(seconds=TIMEFRAME_SECONDS[timeframe])
    end = (as_of or datetime.now(UTC)) + step / 2  # include the bar that opened at or just before as_of
    lookback = step * (max(built.warmup(), 50) * HISTORY_FACTOR + 1)
    bars = load_bars(exchange=exchange, symbol=symbol, timeframe=timeframe, start=end - lookback, end=end)
    if len(bars) <= built.warmup():
        raise ValueError(
            f"{len(bars)} bars of {symbol} {timeframe} before {end:%Y-%m-%d %H:%M}; "
            f"{strategy} needs more than {built.warmup()}"
        )
    indicators = guarded_indicators(built, bars)
    last = len(bars) - 1
    context = BarContext(
        bars=bars,
        indicators=indicators,
        series={k: v.tolist() for k, v in indicators.items()},
        index=last,
        position=float(position),
    )
    try:
        decision = built.decide(context)
    except StrategyFault:
        raise
    except Exception as exc:
        raise decide_failed(built, bars, last, exc) from exc
    target = getattr(decision, "target", "missing")
    if target is not None and not (isinstance(target, int | float) and -1.0 <= target <= 1.0):
        raise bad_decision(built, bars, last, decision)
    return StrategySignal(
        strategy=built.name,
        version=entry.version,
        params=dict(built.params),
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        bar_time=datetime.fromtimestamp(int(bars.time_ms[last]) / 1000, tz=UTC),
        close=Decimal(repr(float(bars.close[last]))),
        target=_decimal(decision.target),
        order_type=decision.order_type,
        price=_decimal(decision.price),
        stop_loss=_decimal(decision.stop_loss),
        take_profit=_decimal(decision.take_profit),
    )
