"""Where a WebSocket client's credentials sit in a Channels scope, for every domain's consumers.

Browsers cannot set headers on a WebSocket, so a token (access token or API key) comes as a subprotocol pair,
`Sec-WebSocket-Protocol: dsta.bearer, <token>` (the server answers with `dsta.bearer`), or, older and logged
only redacted, as `?token=`. Without a token the session's user counts.

`group_send` is how sync code (a commit hook, a command) pushes to a Channels group.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from functools import partial
from typing import Any
from urllib.parse import parse_qs

BEARER_PROTOCOL = "dsta.bearer"


def scope_token(scope: Mapping[str, Any]) -> str:
    protocols = [str(protocol) for protocol in scope.get("subprotocols") or []]
    if BEARER_PROTOCOL in protocols:
        others = [protocol for protocol in protocols if protocol != BEARER_PROTOCOL]
        return others[0] if others else ""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return str((query.get("token") or [""])[0])


def scope_session_user_id(scope: Mapping[str, Any]) -> int | None:
    user = scope.get("user")
    return int(user.pk) if user is not None and user.is_authenticated else None


# async_to_sync(layer.group_send) runs each call on a new event loop in a new thread, and the Redis layer keeps
# its connections per loop: every push paid a thread, a loop and a Redis connection (15-25 ms, per closed bar of
# every market). One loop per process, on a daemon thread started on first use (again after a fork), keeps them.
_loop_lock = threading.Lock()
_loop: tuple[int, asyncio.AbstractEventLoop] | None = None


def _sending_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None or _loop[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="dsta-group-send", daemon=True).start()
            _loop = (os.getpid(), loop)
        return _loop[1]


def group_send(group: str, message: dict[str, Any], *, timeout: float = 5.0, wait: bool = True) -> None:
    """Send `message` to a Channels group from sync code and wait until the layer took it (no layer: nothing).
    `wait=False`: a best-effort push the caller does not wait for (a closed bar's stream message: the bar pass
    goes on while the sending loop talks to Redis); a failure is logged."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    sent = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _sending_loop())
    if wait:
        sent.result(timeout)
    else:
        sent.add_done_callback(partial(_log_failure, group))


def _log_failure(group: str, sent: Future[None]) -> None:
    if not sent.cancelled() and sent.exception() is not None:
        import structlog

        structlog.get_logger(__name__).warning("group_send_failed", group=group, error=repr(sent.exception()))
