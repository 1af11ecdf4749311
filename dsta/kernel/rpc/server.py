"""The served side: an ASGI app exposing one domain's facade at POST /rpc/<domain>/<function>.

Plain ASGI (no Django request stack): a call is read, checked (size, signature, function, arguments) before
anything runs, then executed on a small thread pool, where Django's ORM may block. Probes: /healthz (up),
/readyz (the domain's own alias and Redis answer), /metrics (Prometheus text).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec
import structlog
from django.db import close_old_connections, connections
from prometheus_client import REGISTRY, Counter, Histogram, generate_latest

from dsta.kernel.rpc import signing
from dsta.kernel.rpc.client import REQUEST_ID_HEADER, TRACEPARENT_HEADER, USER_ID_HEADER
from dsta.kernel.rpc.codec import (
    ErrorPayload,
    FunctionCodec,
    declared_exceptions,
    error_encode,
    exception_payload,
    is_declared,
)
from dsta.kernel.rpc.facades import contracts_module, facade_module, is_read, public_functions
from dsta.kernel.rpc.idempotency import RUNNING, IdempotencyStore
from dsta.kernel.telemetry import inbound_context

log = structlog.get_logger("dsta.rpc.server")

RPC_CALLS = Counter("dsta_rpc_calls_total", "Facade calls served, by function and outcome", ["function", "outcome"])
RPC_LATENCY = Histogram(
    "dsta_rpc_call_duration_seconds",
    "Time to run a served facade call (decode, run, encode)",
    ["function"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0),
)

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


class BodyTooLarge(Exception):
    pass


class DomainApp:
    def __init__(self, domain: str, *, alias: str, threads: int | None = None, max_body: int | None = None) -> None:
        self.domain = domain
        self.alias = alias
        self.prefix = f"/rpc/{domain}/"
        self.codecs = {name: FunctionCodec(fn, name) for name, fn in public_functions(facade_module(domain)).items()}
        self.declared = declared_exceptions(contracts_module(domain))
        self.key = signing.domain_key(domain)
        self.nonces = signing.NonceCache()
        self.idempotency = IdempotencyStore(domain)
        self.max_body = max_body or int(os.environ.get("DSTA_RPC_MAX_BODY_BYTES", str(4 * 1024 * 1024)))
        self.pool = ThreadPoolExecutor(
            max_workers=threads or int(os.environ.get("DSTA_RPC_THREADS", "4")), thread_name_prefix="rpc"
        )
        for codec in self.codecs.values():  # build every decoder now: a bad hint fails at start, not mid-call
            _ = codec.arguments_type

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/healthz":
            await _respond(send, 200, b'{"status":"ok"}')
        elif path == "/readyz":
            loop = asyncio.get_running_loop()
            status, body = await loop.run_in_executor(self.pool, self._ready)
            await _respond(send, status, body)
        elif path == "/metrics":
            await _respond(send, 200, generate_latest(REGISTRY), content_type=b"text/plain; version=0.0.4")
        elif path.startswith(self.prefix) and method == "POST":
            await self._rpc(scope, receive, send, path[len(self.prefix) :])
        else:
            await self._refuse(send, 404, "not_found", f"no route {method} {path}", "")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.pool.shutdown(wait=False, cancel_futures=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _ready(self) -> tuple[int, bytes]:
        checks: dict[str, str] = {}
        try:
            with connections[self.alias].cursor() as cursor:
                cursor.execute("SELECT current_schema()")
                checks[f"db:{self.alias}"] = "ok"
        except Exception as exc:
            checks[f"db:{self.alias}"] = f"error: {type(exc).__name__}"
            close_old_connections()
        try:
            self.idempotency.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
        ready = all(value == "ok" for value in checks.values())
        body = msgspec.json.encode({"status": "ready" if ready else "not ready", "checks": checks})
        return (200 if ready else 503), body

    async def _rpc(self, scope: dict[str, Any], receive: Receive, send: Send, function: str) -> None:
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        request_id = headers.get(REQUEST_ID_HEADER, "")[:128]
        try:
            body = await _read_body(receive, headers, self.max_body)
        except BodyTooLarge:
            await self._refuse(send, 413, "payload_too_large", f"body over {self.max_body} bytes", request_id)
            return
        refusal = signing.verify(self.key, headers=headers, path=scope["path"], body=body, nonces=self.nonces)
        if refusal is not None:
            await self._refuse(send, 401, "bad_signature", refusal, request_id)
            return
        codec = self.codecs.get(function)
        if codec is None:
            await self._refuse(
                send, 404, "unknown_function", f"{self.domain} has no facade function {function!r}", request_id
            )
            return
        try:
            arguments = codec.decode_arguments(body)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            await self._refuse(send, 400, "bad_arguments", str(exc), request_id)
            return
        loop = asyncio.get_running_loop()
        status, answer = await loop.run_in_executor(
            self.pool, self._run, codec, arguments, headers, request_id, headers.get(signing.IDEMPOTENCY_HEADER, "")
        )
        await _respond(send, status, answer, request_id=request_id)

    def _run(
        self, codec: FunctionCodec, arguments: dict[str, Any], headers: dict[str, str], request_id: str, key: str
    ) -> tuple[int, bytes]:
        carried: dict[str, Any] = {"request_id": request_id} if request_id else {}
        if USER_ID_HEADER in headers:
            carried["user_id"] = headers[USER_ID_HEADER]
        if TRACEPARENT_HEADER in headers:
            carried["traceparent"] = headers[TRACEPARENT_HEADER]
        keyed = bool(key) and not is_read(codec.name)
        if keyed:
            stored = self.idempotency.begin(codec.name, key)
            if stored == RUNNING:
                return 409, error_encode(ErrorPayload(error="in_progress", detail="a try with this key is running"))
            if stored is not None:
                RPC_CALLS.labels(codec.name, "replayed").inc()
                return int(stored[:3]), stored[3:]
        started = time.perf_counter()
        close_old_connections()
        with inbound_context(
            carried, span_name=f"rpc {self.domain}.{codec.name}", attributes={"rpc.domain": self.domain}
        ):
            try:
                status, answer, outcome = 200, codec.encode_result(codec.function(**arguments)), "ok"
            except Exception as exc:
                if not is_declared(exc, self.declared):
                    log.exception("rpc.failed", function=codec.name)
                    if keyed:
                        self.idempotency.abandon(codec.name, key)
                    RPC_CALLS.labels(codec.name, "error").inc()
                    detail = f"{type(exc).__name__}: {exc}"[:500]
                    return 500, error_encode(ErrorPayload(error="internal", detail=detail, request_id=request_id))
                status, answer, outcome = 422, error_encode(exception_payload(exc, request_id=request_id)), "declared"
            finally:
                close_old_connections()
        if keyed:
            self.idempotency.finish(codec.name, key, str(status).encode() + answer)
        RPC_CALLS.labels(codec.name, outcome).inc()
        RPC_LATENCY.labels(codec.name).observe(time.perf_counter() - started)
        return status, answer

    async def _refuse(self, send: Send, status: int, error: str, detail: str, request_id: str) -> None:
        log.warning("rpc.refused", status=status, error=error, detail=detail, request_id=request_id)
        RPC_CALLS.labels("-", error).inc()
        await _respond(send, status, error_encode(ErrorPayload(error=error, detail=detail, request_id=request_id)))


async def _read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    """The body, or BodyTooLarge past `limit`; an oversized body is read to its end (up to 16 times the limit,
    then the connection is dropped) and thrown away, so that the caller gets the 413 rather than a reset."""
    declared = headers.get("content-length", "")
    chunks: list[bytes] = []
    size = 0
    too_large = declared.isdigit() and int(declared) > limit
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        too_large = too_large or size > limit
        if not too_large:
            chunks.append(chunk)
        if not message.get("more_body", False) or size > 16 * limit:
            break
    if too_large:
        raise BodyTooLarge
    return b"".join(chunks)


async def _respond(
    send: Send, status: int, body: bytes, *, content_type: bytes = b"application/json", request_id: str = ""
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if request_id:
        headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
