"""Cost of core's auth on every request, and how fast a config change reaches WebSocket watchers.

Run: `uv run python bench/core_auth_and_watch.py [--tokens 2000 --requests 500 --changes 200]` (uses
DATABASE_URL / REDIS_URL; creates its own database `<name>_bench`).

1. Token validation (`api.token_validate`: signature, revocation list, user, roles) per second, next to the
   reference of a bare PyJWT signature check of the same token.
2. Authenticated requests per second (GET /api/v1/auth/validate through Django's stack, JWT + RBAC), next to
   the reference of an unauthenticated GET /healthz in the same process.
3. Config watch latency: commit of `config_set` -> message at a connected WebSocket client (real Redis
   channel layer), p50/p99/max over N changes, next to the reference of a bare channel-layer round trip.
   Target (issue 7): every change within 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchenv import setup_django  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--changes", type=int, default=200)
    args = parser.parse_args()

    setup_django()
    import jwt
    from channels.db import database_sync_to_async
    from channels.layers import get_channel_layer
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator
    from django.contrib.auth import get_user_model
    from django.test import Client

    from dsta.core import api, auth, config
    from dsta.core.models import Role
    from dsta.core.roles import ensure_built_in_roles
    from dsta.core.routing import websocket_urlpatterns

    ensure_built_in_roles()
    user, _ = get_user_model().objects.get_or_create(username="bench-analyst")
    Role.objects.get(name="analyst").users.add(user)
    token = auth.tokens_issue(user=user).access_token

    # 1. Token validation.
    started = time.perf_counter()
    for _ in range(args.tokens):
        jwt.decode(token, auth.signing_key(), algorithms=["HS256"], issuer="dsta")
    reference_rate = args.tokens / (time.perf_counter() - started)
    timings = []
    for _ in range(args.tokens):
        began = time.perf_counter()
        assert api.token_validate(token=token) is not None
        timings.append(time.perf_counter() - began)
    print(
        f"token_validate: {len(timings) / sum(timings):,.0f}/s, p50 {percentile(timings, 0.5) * 1e3:.2f} ms,"
        f" p99 {percentile(timings, 0.99) * 1e3:.2f} ms  (reference: bare JWT signature check {reference_rate:,.0f}/s)"
    )

    # 2. Authenticated requests.
    client = Client()
    started = time.perf_counter()
    for _ in range(args.requests):
        assert client.get("/healthz").status_code == 200
    reference_rate = args.requests / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(args.requests):
        assert client.get("/api/v1/auth/validate", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    rate = args.requests / (time.perf_counter() - started)
    print(
        f"GET /api/v1/auth/validate with JWT + RBAC: {rate:,.0f} req/s"
        f"  (reference: GET /healthz {reference_rate:,.0f} req/s)"
    )

    # 3. Config watch latency.
    async def watch() -> tuple[list[float], list[float]]:
        layer = get_channel_layer()
        reply_channel = await layer.new_channel()
        await layer.group_add("bench", reply_channel)
        raw = []
        for _ in range(args.changes):
            began = time.perf_counter()
            await layer.group_send("bench", {"type": "ping"})
            await layer.receive(reply_channel)
            raw.append(time.perf_counter() - began)
        await layer.group_discard("bench", reply_channel)

        communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/api/v1/config/watch?token={token}")
        connected, _ = await communicator.connect()
        assert connected
        latencies = []
        for n in range(args.changes):
            write = database_sync_to_async(config.config_set)
            began = time.perf_counter()
            await write(key="bench.watch", value={"n": n}, actor_id=user.pk)
            message = await communicator.receive_json_from(timeout=5)
            latencies.append(time.perf_counter() - began)
            assert message["value"] == {"n": n}
        await communicator.disconnect()
        return latencies, raw

    latencies, raw = asyncio.run(watch())
    print(
        f"config change -> WebSocket watcher ({args.changes} changes): p50 {percentile(latencies, 0.5) * 1e3:.1f} ms,"
        f" p99 {percentile(latencies, 0.99) * 1e3:.1f} ms, max {max(latencies) * 1e3:.1f} ms (target < 1000 ms)"
        f"  (reference: bare channel-layer round trip p50 {statistics.median(raw) * 1e3:.1f} ms)"
    )
    return 0 if max(latencies) < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
