"""WebSocket stream of closed candles: /api/v1/market-data/stream/{symbol} (symbol as BTC-USDT or BTC_USDT)."""

from __future__ import annotations

import re
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from dsta.core import api as core_api
from dsta.data.contracts import CandleBar
from dsta.kernel.websocket import group_send, scope_session_user_id, scope_token

NOT_AUTHENTICATED = 4401
FORBIDDEN = 4403


def symbol_from_path(value: str) -> str:
    """`BTC-USDT`, `BTC_USDT` and `BTC/USDT` all name BTC/USDT (a slash cannot sit in one path segment)."""
    return re.sub(r"[-_]", "/", value.upper(), count=1)


def stream_group(symbol: str) -> str:
    # Channels group names allow ASCII letters, digits, hyphens, underscores and periods only.
    return "market_data." + re.sub(r"[^A-Za-z0-9]", "_", symbol)


def candle_message(bar: CandleBar) -> dict[str, Any]:
    return {
        "type": "candle.closed",
        "candle": {
            "exchange": bar.exchange,
            "symbol": bar.symbol,
            "timeframe": bar.timeframe,
            "open_time": bar.open_time.isoformat(),
            **{name: str(getattr(bar, name)) for name in ("open", "high", "low", "close", "volume")},
        },
    }


def candle_broadcast(bar: CandleBar) -> None:
    """Push a committed bar to the symbol's subscribers (called on commit; best effort, not a record: the bar
    pass does not wait for Redis)."""
    group_send(stream_group(bar.symbol), candle_message(bar), wait=False)


class CandleStreamConsumer(AsyncJsonWebsocketConsumer):
    """Authenticated like every endpoint: a token (access token or API key in the `dsta.bearer` subprotocol or
    `?token=`, as browsers cannot set headers on a WebSocket) or the session, and the caller needs
    `market_data.read`. Close codes 4401 / 4403."""

    required_permission = "market_data.read"

    async def connect(self) -> None:
        access = await database_sync_to_async(core_api.websocket_access)(
            token=scope_token(self.scope),
            session_user_id=scope_session_user_id(self.scope),
            permission=self.required_permission,
        )
        if not access.allowed:
            await self.close(code=access.close_code)
            return
        self.group = stream_group(symbol_from_path(self.scope["url_route"]["kwargs"]["symbol"]))
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def candle_closed(self, event: dict[str, Any]) -> None:
        await self.send_json(event["candle"])
