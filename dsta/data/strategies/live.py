"""Strategy decisions on live data: the latest stored bars, the strategy's own `decide()`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from dsta.data.bars import load_bars
from dsta.data.contracts import TIMEFRAME_SECONDS, StrategySignal
from dsta.data.strategies.base import BarContext
from dsta.data.strategies.registry import strategy_build

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
) -> StrategySignal:
    built = strategy_build(strategy, dict(params))
    step = timedelta(seconds=TIMEFRAME_SECONDS[timeframe])
    end = (as_of or datetime.now(UTC)) + step / 2  # include the bar that opened at or just before as_of
    lookback = step * (max(built.warmup(), 50) * HISTORY_FACTOR + 1)
    bars = load_bars(exchange=exchange, symbol=symbol, timeframe=timeframe, start=end - lookback, end=end)
    if len(bars) <= built.warmup():
        raise ValueError(
            f"{len(bars)} bars of {symbol} {timeframe} before {end:%Y-%m-%d %H:%M}; "
            f"{strategy} needs more than {built.warmup()}"
        )
    indicators = built.indicators(bars)
    last = len(bars) - 1
    context = BarContext(
        bars=bars,
        indicators=indicators,
        series={k: v.tolist() for k, v in indicators.items()},
        index=last,
        position=float(position),
    )
    decision = built.decide(context)
    return StrategySignal(
        strategy=built.name,
        version=built.version,
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
