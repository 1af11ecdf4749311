"""Upstream feeds of the WebSocket hub: one feed per (venue, channel, symbol) across all processes, fanned out
to every subscribed client through the channel layer (Redis).

A feed is an asyncio task in whichever process first takes the feed's Redis lock; it polls the venue through
the facade (so it is rate-limited and breaker-guarded like every other call), sends each update to the feed's
group, and stops once the feed's subscriber count (kept in Redis) drops to zero. Subscribers re-claim the lock
on a timer, so a feed whose process died is restarted by a surviving subscriber.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import structlog
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections

from dsta.exchange import api
from dsta.exchange.contracts import ExchangeError
from dsta.exchange.resilience import redis_client
from dsta.kernel.events import to_jsonable

log = structlog.get_logger(__name__)

CHANNELS: dict[str, Callable[[str, str], Any]] = {
    "ticker": lambda venue, symbol: api.ticker_get(venue=venue, symbol=symbol),
    "orderbook": lambda venue, symbol: api.order_book_get(venue=venue, symbol=symbol, depth=20),
    "trades": lambda venue, symbol: api.trades_recent(venue=venue, symbol=symbol, limit=50),
}
LOCK_TTL_SECONDS = 10
_local_feeds: dict[str, asyncio.Task[None]] = {}


def interval() -> float:
    return float(getattr(settings, "DSTA_EXCHANGE_STREAM_INTERVAL", 1.0))


def feed_key(venue: str, channel: str, symbol: str) -> str:
    """Also the channel-layer group name (letters, digits, '-', '_', '.' only)."""
    return "exchange." + ".".join(re.sub(r"[^A-Za-z0-9]", "-", part) for part in (venue, channel, symbol))


def _subscribers_key(key: str) -> str:
    return f"dsta:{key}:subscribers"


def _lock_key(key: str) -> str:
    return f"dsta:{key}:feed"


def subscribe(key: str) -> int:
    return int(redis_client().incr(_subscribers_key(key)))


def unsubscribe(key: str) -> int:
    remaining = int(redis_client().decr(_subscribers_key(key)))
    if remaining <= 0:
        redis_client().delete(_subscribers_key(key))
    return remaining


def subscriber_count(key: str) -> int:
    return int(redis_client().get(_subscribers_key(key)) or 0)


def ensure_feed(venue: str, channel: str, symbol: str) -> None:
    """Start this feed here unless it runs already (here or in another process)."""
    key = feed_key(venue, channel, symbol)
    task = _local_feeds.get(key)
    if task is not None and not task.done():
        return
    if not redis_client().set(_lock_key(key), "1", nx=True, ex=LOCK_TTL_SECONDS):
        return
    _local_feeds[key] = asyncio.get_running_loop().create_task(_run_feed(venue, channel, symbol))


def _fetch(venue: str, channel: str, symbol: str) -> Any:
    close_old_connections()
    return CHANNELS[channel](venue, symbol)


async def _run_feed(venue: str, channel: str, symbol: str) -> None:
    key = feed_key(venue, channel, symbol)
    layer = get_channel_layer()
    assert layer is not None
    fetch = sync_to_async(_fetch, thread_sensitive=False)
    try:
        while subscriber_count(key) > 0:
            redis_client().expire(_lock_key(key), LOCK_TTL_SECONDS)
            message: dict[str, Any] = {"type": "feed.update", "channel": channel, "venue": venue, "symbol": symbol}
            try:
                message["data"] = to_jsonable(await fetch(venue, channel, symbol))
            except ExchangeError as error:
                message["error"] = f"{type(error).__name__}: {error}"
            await layer.group_send(key, message)
            await asyncio.sleep(interval())
    finally:
        redis_client().delete(_lock_key(key))
        _local_feeds.pop(key, None)
        log.info("exchange.feed_stopped", feed=key)
