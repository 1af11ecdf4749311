"""Event handlers of the trading domain."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import dramatiq
from django.db import transaction

from dsta.data.events import CandleClosed
from dsta.events.ml import PredictionMade  # ml's event class; trading never imports ml itself
from dsta.exchange.contracts import FillView, OrderSide
from dsta.exchange.contracts import OrderStatus as ExchangeStatus
from dsta.exchange.events import FillRecorded, OrderUpdated
from dsta.kernel.events import EventEnvelope
from dsta.kernel.handlers import event_batch_handler, event_handler
from dsta.trading import bot_signals, orders, services
from dsta.trading.events import SignalEmitted

# ccxt (seconds to import) is loaded by exchange's ccxt venue on a live venue's first call, not by importing the
# exchange facade, so the order path is imported here like any module.


@event_batch_handler(consumer="trading.mark_prices", events=[CandleClosed], using="trading")
def on_candles_closed(envelopes: Sequence[EventEnvelope]) -> None:
    candles = [envelope.decode(CandleClosed) for envelope in envelopes]
    services.mark_prices_record(
        marks=[services.Mark(candle.exchange, candle.symbol, candle.close, candle.open_time) for candle in candles]
    )
    from dsta.trading import drawdown

    # The marks moved the portfolio's equity: valued once for the batch (a close of 100 markets is one batch),
    # before the strategies' handler runs on the same batch, so a breach halts their orders.
    drawdown.drawdown_check()


@event_batch_handler(consumer="trading.stops", events=[CandleClosed], using="trading")
def run_stops_on_candles(envelopes: Sequence[EventEnvelope]) -> None:
    from dsta.trading import stops

    candles = [envelope.decode(CandleClosed) for envelope in envelopes]
    guarded = stops.symbols_with_active_stops(symbols={candle.symbol for candle in candles})  # one read per batch
    for candle in candles:  # in outbox order: a market's bars one after the other
        if candle.symbol not in guarded:
            continue
        created = stops.stops_on_price(
            exchange=candle.exchange, symbol=candle.symbol, price=candle.close, at=candle.open_time
        )
        for order_id in created:
            # after the trigger commits; a lost message leaves the order `new` for `resume_orders`
            transaction.on_commit(partial(place_stop_order.send, order_id), using="trading")


@event_batch_handler(consumer="trading.strategies", events=[CandleClosed], using="trading")
def run_strategies_on_candles(envelopes: Sequence[EventEnvelope]) -> None:
    candles = [envelope.decode(CandleClosed) for envelope in envelopes]
    # a bar caught up after downtime (or history) is flagged by market data; a newer stored bar says the same:
    # recorded with its decision, never traded (strategies trade the newest closed bar only)
    bot_signals.signals_on_candles(
        bars=[bot_signals.ClosedBar(c.exchange, c.symbol, c.timeframe, c.open_time, bool(c.backfill)) for c in candles]
    )


@event_handler(consumer="trading.ml_predictions", events=[PredictionMade], using="trading")
def run_strategies_on_prediction(envelope: EventEnvelope) -> None:
    """Instances that trade a model's predictions (ml_signal) decide their bar when its prediction arrives;
    the signal then goes the candle path's way (`trading.bot`). Trading never imports ml: only its event."""
    prediction = envelope.decode(PredictionMade)
    bot_signals.signals_on_prediction(
        model_name=prediction.model_name,
        exchange=prediction.exchange,
        symbol=prediction.symbol,
        timeframe=prediction.timeframe,
        bar_time=prediction.bar_time,
        output=prediction.output,
        backfill=prediction.backfill,
    )


@event_handler(consumer="trading.bot", events=[SignalEmitted], using="trading")
def trade_signal(envelope: EventEnvelope) -> None:
    """A signal stored undecided becomes its order (once per bar: see `bot_execution`). The strategies'
    handler decides and places in the signal's own transaction, so this finds nothing to do unless the
    signal was stored by an earlier version."""
    from dsta.trading import bot_execution
    from dsta.trading.models import Signal

    event = envelope.decode(SignalEmitted)
    signal_id = (
        Signal.objects.using("trading")
        .filter(instance_id=event.instance_id, bar_time=event.bar_time, action="")
        .values_list("id", flat=True)
        .first()
    )
    if signal_id is not None:
        bot_execution.signal_execute(signal_id=signal_id)


@event_handler(consumer="trading.exchange_orders", events=[OrderUpdated], using="trading")
def on_exchange_order_updated(envelope: EventEnvelope) -> None:
    update = envelope.decode(OrderUpdated)
    orders.order_exchange_update(
        client_order_id=update.client_order_id,
        status=ExchangeStatus(update.status),
        filled=update.filled,
        average_price=update.average_price,
        exchange_order_id=update.exchange_order_id,
    )


@event_handler(consumer="trading.exchange_fills", events=[FillRecorded], using="trading")
def on_exchange_fill(envelope: EventEnvelope) -> None:
    fill = envelope.decode(FillRecorded)
    orders.fill_record(
        fill=FillView(
            venue=fill.venue,
            fill_id=fill.fill_id,
            exchange_order_id=fill.exchange_order_id,
            client_order_id=fill.client_order_id,
            symbol=fill.symbol,
            side=OrderSide(fill.side),
            price=fill.price,
            amount=fill.amount,
            fee=fill.fee,
            fee_asset=fill.fee_asset,
            is_maker=fill.is_maker,
            timestamp=fill.timestamp,
        )
    )


@dramatiq.actor(queue_name="trading", max_retries=3)
def resume_orders() -> None:
    """Finish orders a crash or a transient exchange error left open (schedule it, or send after a restart)."""
    orders.orders_resume()


@dramatiq.actor(queue_name="trading", max_retries=5, min_backoff=1_000)
def twap_slice(parent_id: int, index: int) -> None:
    """Place one TWAP slice, then schedule the next one `interval_seconds` later."""
    parent = orders.twap_place_slice(parent_id, index)
    if parent.slices is not None and index + 1 < parent.slices and parent.status not in orders.FINAL:
        twap_slice.send_with_options(args=(parent_id, index + 1), delay=(parent.interval_seconds or 0) * 1000)


def twap_start(parent_id: int) -> None:
    twap_slice.send(parent_id, 0)


@dramatiq.actor(queue_name="trading", max_retries=5, min_backoff=1_000)
def vwap_slice(parent_id: int, index: int) -> None:
    """Place one VWAP child, then schedule the next one at its due time."""
    parent = orders.vwap_place_slice(parent_id, index)
    if parent.status in orders.FINAL:
        return
    delay = orders.next_slice_delay_ms(parent_id, index + 1)
    if delay is not None:
        vwap_slice.send_with_options(args=(parent_id, index + 1), delay=delay)


def vwap_start(parent_id: int) -> None:
    vwap_slice.send_with_options(args=(parent_id, 0), delay=orders.next_slice_delay_ms(parent_id, 0) or 0)


@dramatiq.actor(queue_name="trading", max_retries=5, min_backoff=1_000)
def place_stop_order(order_id: int) -> None:
    """Run a triggered stop's closing order through the saga."""
    from dsta.trading import stops

    stops.stop_order_run(order_id)


@dramatiq.actor(queue_name="trading", max_retries=1)
def snapshot_pnl() -> None:
    """Store the portfolio P&L and check the drawdown (the scheduler sends it every minute)."""
    from dsta.trading import drawdown

    orders.pnl_snapshot_take()
    drawdown.drawdown_check()


@dramatiq.actor(queue_name="trading", max_retries=1)
def publish_market_subscriptions() -> None:
    """Declare the enabled strategy instances' markets to the live feed (also done on every instance save)."""
    from dsta.trading import market_subscriptions

    market_subscriptions.subscriptions_publish()


@dramatiq.actor(queue_name="trading", max_retries=1)
def sync_fills() -> None:
    """Pull new fills from live venues for every market with an active order or a position there; the
    `exchange.fill` events they publish come back to `on_exchange_fill`."""
    from dsta.trading import jobs

    jobs.live_fills_sync()


@dramatiq.actor(queue_name="trading", max_retries=0)
def telegram_poll() -> None:
    """Take Telegram bot commands from linked chats (a no-op until `telegram.chat_ids` links one); the next
    tick polls again, so a failed run is not retried."""
    from dsta.trading import telegram_commands

    telegram_commands.telegram_poll()
