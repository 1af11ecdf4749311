"""Event handlers of the trading domain."""

from __future__ import annotations

from dsta.data.events import CandleClosed
from dsta.kernel.events import EventEnvelope
from dsta.kernel.handlers import event_handler
from dsta.trading import services


@event_handler(consumer="trading.mark_prices", events=[CandleClosed], using="trading")
def on_candle_closed(envelope: EventEnvelope) -> None:
    candle = envelope.decode(CandleClosed)
    services.mark_price_record(
        exchange=candle.exchange, symbol=candle.symbol, price=candle.close, as_of=candle.open_time
    )


@event_handler(consumer="trading.strategies", events=[CandleClosed], using="trading")
def run_strategies_on_candle(envelope: EventEnvelope) -> None:
    candle = envelope.decode(CandleClosed)
    services.signals_on_candle(
        exchange=candle.exchange, symbol=candle.symbol, timeframe=candle.timeframe, bar_time=candle.open_time
    )
