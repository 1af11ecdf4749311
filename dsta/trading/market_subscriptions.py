"""Trading's market subscriptions: the markets of its enabled strategy instances, declared to the data
domain's live feed (data.api.markets_track), which then keeps each current and publishes its closed bars.

Declared after every committed save or delete of an instance that may change the set (a save naming only
other fields, as the bot's per-bar saves of its held target and equity do, cannot), and again by the
scheduler's `publish_market_subscriptions` (a bulk update sends no signal)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from dsta.data import api as data_api
from dsta.data.contracts import MarketKey
from dsta.trading.models import StrategyInstance

ALIAS = "trading"
OWNER = "trading.strategies"
MARKET_FIELDS = frozenset({"exchange", "symbol", "timeframe", "enabled"})


def subscriptions_publish() -> int:
    """Declare the markets of every enabled instance (the whole set, so a disabled one drops out)."""
    rows = StrategyInstance.objects.using(ALIAS).filter(enabled=True).values_list("exchange", "symbol", "timeframe")
    markets = sorted({MarketKey(exchange, symbol, timeframe) for exchange, symbol, timeframe in rows}, key=str)
    return data_api.markets_track(owner=OWNER, markets=markets)


def _instance_changed(sender: type, **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and not MARKET_FIELDS & set(update_fields):
        return  # the set of markets is what it was: no round trips to the data domain
    # robust: the instance is committed already; a failure here is logged and the scheduled run retries it
    transaction.on_commit(subscriptions_publish, using=ALIAS, robust=True)


def connect() -> None:
    post_save.connect(_instance_changed, sender=StrategyInstance, dispatch_uid="trading.market_subscriptions.save")
    post_delete.connect(_instance_changed, sender=StrategyInstance, dispatch_uid="trading.market_subscriptions.del")
