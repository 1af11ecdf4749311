"""WS /api/v1/config/watch: pushes every config change to connected clients as it commits.

Browsers cannot set headers on a WebSocket, so the access token (or API key) comes in the `dsta.bearer`
subprotocol (or as `?token=`, see dsta/kernel/websocket.py); an optional
`?keys=a,b` narrows the stream. Close codes: 4401 no/invalid token, 4403 lacking `config.read`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from dsta.core import api
from dsta.core.config import WATCH_GROUP
from dsta.kernel.websocket import scope_token


class ConfigWatchConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    required_permission = "config.read"

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        access = await database_sync_to_async(api.websocket_access)(
            token=scope_token(self.scope), session_user_id=None, permission=self.required_permission
        )
        if not access.allowed:
            await self.close(code=access.close_code)
            return
        self.keys = {key for key in (query.get("keys") or [""])[0].split(",") if key}
        await self.channel_layer.group_add(WATCH_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(WATCH_GROUP, self.channel_name)

    async def config_changed(self, message: dict[str, Any]) -> None:
        if self.keys and message["key"] not in self.keys:
            return
        await self.send_json({"key": message["key"], "version": message["version"], "value": message["value"]})
