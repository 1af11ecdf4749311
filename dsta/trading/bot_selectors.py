"""Reads of the bot: each instance with its own account and latest signals, as contracts."""

from __future__ import annotations

from django.db.models import Q

from dsta.trading import bot_book
from dsta.trading.contracts import BotSignalView, BotView
from dsta.trading.models import Signal, StrategyInstance

ALIAS = "trading"


def bots_list(*, signals: int, instance_id: int | None = None, visible_to: int | None = None) -> list[BotView]:
    """`visible_to`: only the instances that user created and those nobody did (made from the CLI)."""
    instances = StrategyInstance.objects.using(ALIAS).order_by("id")
    if instance_id is not None:
        instances = instances.filter(pk=instance_id)
    if visible_to is not None:
        instances = instances.filter(Q(created_by_id=visible_to) | Q(created_by_id__isnull=True))
    views = []
    for instance in instances:
        latest = list(Signal.objects.using(ALIAS).filter(instance=instance).order_by("-bar_time")[:signals])
        mark = latest[0].close if latest else None
        book = bot_book.book_of(instance)
        views.append(
            BotView(
                instance_id=instance.pk,
                name=instance.name,
                strategy=instance.strategy,
                strategy_version=instance.strategy_version,
                model_name=instance.model_name,
                exchange=instance.exchange,
                symbol=instance.symbol,
                timeframe=instance.timeframe,
                mode=instance.mode,
                venue=instance.venue,
                state=instance.state,
                armed=instance.armed_at is not None,
                capital=instance.capital,
                position=book.position.quantity,
                equity=book.equity(mark),
                realised_pnl=book.position.realised_pnl,
                unrealised_pnl=book.unrealised(mark),
                fees=book.position.fees,
                last_signals=tuple(BotSignalView(s.bar_time, s.target, s.action, s.client_order_id) for s in latest),
                cash=book.cash,
                average_price=book.position.average_price,
                mark=mark,
                created_by_id=instance.created_by_id,
            )
        )
    return views
