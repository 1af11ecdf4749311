"""WebSocket hub: /api/v1/exchange/{name}/stream.

Client messages: {"action": "subscribe" | "unsubscribe", "channel": "ticker" | "orderbook" | "trades",
"symbol": "BTC/USDT"}.
Server messages: {"channel", "venue", "symbol", "data"} per update ({"error"} instead of data when the venue
failed), and {"subscribed"/"unsubscribed": ...} or {"error": ...} answers to client messages.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from dsta.core import api as core_api
from dsta.exchange import api, streams
from dsta.kernel.websocket import scope_session_user_id, scope_token

SYMBOL = re.compile(r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}$")
MAX_SUBSCRIPTIONS = 50


class ExchangeStreamConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """Signed in by a token (`dsta.bearer` subprotocol or `?token=`) or the session, with `market_data.read`
    (close codes 4401 / 4403)."""

    required_permission = "market_data.read"

    async def connect(self) -> None:
        self.venue = self.scope["url_route"]["kwargs"]["name"]
        self.subscriptions: dict[str, tuple[str, str]] = {}  # feed key -> (channel, symbol)
        self.watchdog: asyncio.Task[None] | None = None
        access = await database_sync_to_async(core_api.websocket_access)(
            token=scope_token(self.scope),
            session_user_id=scope_session_user_id(self.scope),
            permission=self.required_permission,
        )
        if not access.allowed:
            await self.close(code=access.close_code)
            return
        if self.venue not in {venue.name for venue in api.venues_list()}:
            await self.close(code=4404)
            return
        await self.accept()
        self.watchdog = asyncio.get_running_loop().create_task(self._keep_feeds_alive())

    async def disconnect(self, code: int) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
        for key in list(self.subscriptions):
            await self._leave(key)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            await self.send_json({"error": "send a JSON object"})
            return
        action, channel, symbol = content.get("action"), content.get("channel"), content.get("symbol")
        errors = {}
        if action not in ("subscribe", "unsubscribe"):
            errors["action"] = "subscribe or unsubscribe"
        if channel not in streams.CHANNELS:
            errors["channel"] = f"one of {sorted(streams.CHANNELS)}"
        if not isinstance(symbol, str) or not SYMBOL.match(symbol):
            errors["symbol"] = "BASE/QUOTE, e.g. BTC/USDT"
        if errors:
            await self.send_json({"error": "invalid message", "fields": errors})
            return
        key = streams.feed_key(self.venue, channel, symbol)
        if action == "subscribe":
            if key not in self.subscriptions:
                if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
                    await self.send_json({"error": f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection"})
                    return
                self.subscriptions[key] = (channel, symbol)
                await self.channel_layer.group_add(key, self.channel_name)
                streams.subscribe(key)
                streams.ensure_feed(self.venue, channel, symbol)
            await self.send_json({"subscribed": {"channel": channel, "symbol": symbol}})
        else:
            if key in self.subscriptions:
                await self._leave(key)
            await self.send_json({"unsubscribed": {"channel": channel, "symbol": symbol}})

    async def _leave(self, key: str) -> None:
        self.subscriptions.pop(key, None)
        await self.channel_layer.group_discard(key, self.channel_name)
        streams.unsubscribe(key)

    async def feed_update(self, event: dict[str, Any]) -> None:
        await self.send_json({name: value for name, value in event.items() if name != "type"})

    async def _keep_feeds_alive(self) -> None:
        # a feed whose process died loses its lock after LOCK_TTL_SECONDS; a live subscriber restarts it
        while True:
            await asyncio.sleep(streams.LOCK_TTL_SECONDS / 2)
            for channel, symbol in list(self.subscriptions.values()):
                streams.ensure_feed(self.venue, channel, symbol)
