"""ASGI wrappers around every WebSocket route (dsta/asgi.py), so no consumer has to remember them:

- `AllowedOrigins`: a browser's handshake must come from an allowed host (cross-site WebSocket hijacking);
  clients that send no Origin (scripts, the bot) are not browsers and pass.
- `WebSocketGuard`: the credentials a socket connected with are checked again on a push when the last check is
  older than DSTA_WS_RECHECK_SECONDS, and by a timer every DSTA_WS_IDLE_RECHECK_SECONDS; once the token has expired
  or been revoked (logout), the session has ended or the user is deactivated, the socket gets
  {"error": "session ended"} and is closed with 4401. A frame that is not a JSON text frame is answered with an
  error message and never reaches the consumer (every consumer speaks JSON). A client that offered the
  `dsta.bearer` subprotocol gets it selected in the accept.
- `not_found`: the last route; an unknown path is a 404 (or close 4404), not a 500 from the router.
"""

from __future__ import annotations

import asyncio
import json
import time
from importlib import import_module
from typing import Any
from urllib.parse import ParseResult

from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth import get_user_model

from dsta.core import api
from dsta.core.contracts import Principal
from dsta.kernel.clock import utc_now
from dsta.kernel.websocket import BEARER_PROTOCOL, scope_session_user_id, scope_token

SESSION_ENDED = 4401
NOT_FOUND = 4404
MAX_FRAME_DEPTH = 32


class AllowedOrigins(OriginValidator):  # type: ignore[misc]
    def __init__(self, application: Any) -> None:
        super().__init__(application, list(settings.ALLOWED_HOSTS))

    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        return parsed_origin is None or bool(self.validate_origin(parsed_origin))


def _frame_error(message: dict[str, Any]) -> str | None:
    text = message.get("text")
    if text is None:
        return "send JSON in text frames"
    try:
        value = json.loads(text)
    except RecursionError:
        return f"JSON nested deeper than {MAX_FRAME_DEPTH} levels"
    except ValueError as exc:
        return f"not JSON: {exc}"
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > MAX_FRAME_DEPTH:
                return f"JSON nested deeper than {MAX_FRAME_DEPTH} levels"
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return None


def _session_alive(session_key: str, user_id: int) -> bool:
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not store().exists(session_key):
        return False
    return bool(get_user_model().objects.filter(pk=user_id, is_active=True).exists())


class _Connection:
    def __init__(self, scope: dict[str, Any], send: Any) -> None:
        self.token = scope_token(scope)
        self.user_id = scope_session_user_id(scope)
        session = scope.get("session")
        self.session_key = str(getattr(session, "session_key", "") or "")
        self.offered_bearer = BEARER_PROTOCOL in (scope.get("subprotocols") or [])
        self.send_downstream = send
        self.principal: Principal | None = None
        self.checked_at = 0.0
        self.accepted = False
        self.closed = False
        self.timer: asyncio.Task[None] | None = None

    def _still_valid(self) -> bool:
        if self.token:
            self.principal = api.token_validate(token=self.token)
            return self.principal is not None
        if self.user_id is not None and self.session_key:
            return _session_alive(self.session_key, self.user_id)
        return True  # nobody signed in: the consumer decided at connect (public or refused)

    async def valid(self, *, max_age: float) -> bool:
        expires_at = self.principal.expires_at if self.principal else None
        if expires_at is not None and expires_at <= utc_now():
            return False
        if time.monotonic() - self.checked_at < max_age:
            return True
        ok = await database_sync_to_async(self._still_valid)()
        self.checked_at = time.monotonic()
        return ok

    async def end(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self.send_downstream({"type": "websocket.send", "text": json.dumps({"error": "session ended"})})
        await self.send_downstream({"type": "websocket.close", "code": SESSION_ENDED})

    async def watch(self) -> None:
        interval = float(getattr(settings, "DSTA_WS_IDLE_RECHECK_SECONDS", 15))
        while not self.closed:
            await asyncio.sleep(interval)
            if not await self.valid(max_age=0):
                await self.end()


class WebSocketGuard:
    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            return await self.application(scope, receive, send)
        connection = _Connection(scope, send)

        async def guarded_send(message: dict[str, Any]) -> None:
            kind = message["type"]
            if connection.closed:
                return
            if kind == "websocket.accept":
                if connection.offered_bearer and not message.get("subprotocol"):
                    message = {**message, "subprotocol": BEARER_PROTOCOL}
                connection.accepted = True
                await connection.valid(max_age=0)  # remembers the token's expiry
                connection.timer = asyncio.get_running_loop().create_task(connection.watch())
            elif kind == "websocket.send" and connection.accepted:
                if not await connection.valid(max_age=float(getattr(settings, "DSTA_WS_RECHECK_SECONDS", 1))):
                    await connection.end()
                    return
            elif kind == "websocket.close":
                connection.closed = True
            await send(message)

        async def guarded_receive() -> dict[str, Any]:
            while True:
                message: dict[str, Any] = await receive()
                if message["type"] != "websocket.receive" or connection.closed:
                    return message
                error = _frame_error(message)
                if error is None:
                    return message
                await send({"type": "websocket.send", "text": json.dumps({"error": error})})

        try:
            return await self.application(scope, guarded_receive, guarded_send)
        finally:
            connection.closed = True
            if connection.timer is not None:
                connection.timer.cancel()


async def not_found(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """ASGI app for the catch-all WebSocket route."""
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        body = json.dumps({"detail": "No WebSocket route here."}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "websocket.http.response.start", "status": 404, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": NOT_FOUND})
