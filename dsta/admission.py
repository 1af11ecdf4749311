"""Admission control in front of the web server's request threads (project wiring, not a domain).

The HTTP threads (dsta/asgi.py) take requests from an unbounded queue: under a load above their capacity,
every request waits behind all the earlier ones and they all end in client timeouts. This layer bounds it:
at most `threads + queue` requests are inside the Django app at once; one more is answered at once with
503 and Retry-After, without a thread. The liveness probe /healthz is answered here, before the bound: an
overloaded process is alive, and must not be restarted for being busy (readiness, /readyz, still queues).
"""

from __future__ import annotations

from typing import Any

ASGIApp = Any

HEALTHZ_BODY = b'{"status": "ok"}'
OVERLOADED_BODY = (
    b'{"detail": "The server is at capacity; retry after the delay in Retry-After.", "code": "overloaded"}'
)


class BoundedAdmission:
    def __init__(self, app: ASGIApp, *, limit: int, retry_after_seconds: int = 1) -> None:
        self.app = app
        self.limit = limit
        self.retry_after = str(retry_after_seconds).encode()
        self.in_flight = 0  # touched only on the event loop's thread

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/healthz":
            await self._answer(send, 200, HEALTHZ_BODY)
            return
        if self.in_flight >= self.limit:
            await self._answer(send, 503, OVERLOADED_BODY, [(b"retry-after", self.retry_after)])
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    @staticmethod
    async def _answer(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                + (headers or []),
            }
        )
        await send({"type": "http.response.body", "body": body})
