"""Protections of one strategy instance (freqtrade's): each trip is stored (`ProtectionTrip`, once per rule and
bar) and raised as a risk violation, which core's notifications deliver along the configured routes. The
global drawdown breaker (`drawdown.py`) stays in force beside them.

- cooldown: after an exit at a loss (a stop-out), no new entry for `cooldown_bars` bars.
- max drawdown: equity (marked at the bar's close) `max_drawdown_pct` below its peak stops the instance.
- daily loss: equity `daily_loss_limit` (quote currency) below the day's first marked equity blocks new
  entries until the next UTC day.
Exits are never blocked: a protection only stops a position from growing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction

from dsta.data.contracts import TIMEFRAME_SECONDS
from dsta.trading.bot_book import InstanceBook
from dsta.trading.models import BotState, Order, Signal, StrategyInstance

ALIAS = "trading"
ZERO = Decimal(0)


def _trip(instance: StrategyInstance, *, rule: str, message: str, bar_time: datetime, until: datetime | None) -> None:
    from dsta.trading import services

    services.protection_trip_record(instance, rule=rule, message=message, bar_time=bar_time, until=until)


def watching(instance: StrategyInstance) -> bool:
    """Whether a protection needs the instance's equity at every bar."""
    return bool(instance.max_drawdown_pct or instance.daily_loss_limit)


def bar_check(*, instance: StrategyInstance, bar_time: datetime, book: InstanceBook, price: Decimal) -> str:
    """Mark the instance's equity at this bar's close: move its peak and the day's start, and stop it when the
    drawdown limit is crossed. Returns why it stopped ("" when it did not)."""
    equity = book.equity(price)
    peak = max(instance.peak_equity or equity, equity)
    day = bar_time.date()
    if instance.day_start != day:
        instance.day_start, instance.day_start_equity = day, equity
    instance.peak_equity = peak
    fields = ["peak_equity", "day_start", "day_start_equity", "updated_at"]
    message = ""
    if instance.max_drawdown_pct and peak > 0:
        drawdown = (peak - equity) / peak * 100
        if drawdown >= instance.max_drawdown_pct:
            instance.state = BotState.STOPPED
            fields.append("state")
            message = f"drawdown {drawdown:.2f}% from the peak {peak:.2f} reached {instance.max_drawdown_pct}%: stopped"
    if not message:
        instance.save(using=ALIAS, update_fields=fields)
        return ""
    from dsta.trading import services

    with transaction.atomic(using=ALIAS):  # the stop and its event together, wherever this is called from
        instance.save(using=ALIAS, update_fields=fields)
        services.bot_state_publish(instance)
    _trip(instance, rule="max_drawdown", message=message, bar_time=bar_time, until=None)
    return message


def entry_blocked(*, instance: StrategyInstance, bar_time: datetime, book: InstanceBook, price: Decimal) -> str:
    """Why a new entry at this bar is refused ("" when it is not): a cooldown, or the daily loss limit (tripped
    here when crossed)."""
    if instance.cooldown_until is not None and bar_time < instance.cooldown_until:
        return f"cooldown after a stop-out until {instance.cooldown_until:%Y-%m-%d %H:%M}"
    if instance.daily_loss_limit and instance.day_start_equity is not None and instance.day_start == bar_time.date():
        loss = instance.day_start_equity - book.equity(price)
        if loss >= instance.daily_loss_limit:
            day = bar_time.date()
            next_day = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=bar_time.tzinfo)
            message = f"lost {loss:.2f} today (limit {instance.daily_loss_limit}): no entries until the next day"
            _trip(instance, rule="daily_loss", message=message, bar_time=bar_time, until=next_day)
            return message
    return ""


def after_order(*, instance: StrategyInstance, signal: Signal, order: Order) -> None:
    """Start the cooldown when an exit closed the instance's round trip at a loss."""
    if not instance.cooldown_bars or order.side != "sell" or not order.filled_quantity:
        return
    from dsta.trading.bot_book import book_of

    book = book_of(instance)
    if book.position.quantity != 0:
        return
    if book.cash >= _cash_at_round_trip_start(instance):
        return
    step = timedelta(seconds=TIMEFRAME_SECONDS[instance.timeframe])
    until = signal.bar_time + step * (instance.cooldown_bars + 1)
    instance.cooldown_until = until
    instance.save(using=ALIAS, update_fields=["cooldown_until", "updated_at"])
    _trip(
        instance,
        rule="cooldown",
        message=f"exit at a loss: no entry for {instance.cooldown_bars} bars",
        bar_time=signal.bar_time,
        until=until,
    )


def _cash_at_round_trip_start(instance: StrategyInstance) -> Decimal:
    """The instance's cash before the round trip that just closed: its fills up to the last time it was flat."""
    from dsta.trading.bot_book import book_of, instance_fills

    fills = instance_fills(instance.pk)
    quantity = ZERO
    flat_after = 0  # number of fills after which the position was last flat before the final fill
    for index, fill in enumerate(fills[:-1]):
        quantity += fill.quantity if fill.side == "buy" else -fill.quantity
        if quantity == 0:
            flat_after = index + 1
    return book_of(instance, fills[:flat_after]).cash
