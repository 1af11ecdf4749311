"""The served domain's memory of finished writes, by idempotency key (Redis, shared by its processes).

A write's first try marks its key as running (SET NX, expiring after the call timeout), then stores its answer
for a day; a resend of the same key gets the stored answer, or "in progress" while the first try runs. A
process killed mid-call leaves the mark to expire, after which the key may run again: the domain's own keys
(an order's client_order_id) keep that from doing anything twice.
"""

from __future__ import annotations

import os

import redis
from django.conf import settings

RESULT_TTL_SECONDS = 24 * 3600
RUNNING = b"\x00running"


class IdempotencyStore:
    def __init__(self, domain: str) -> None:
        self.prefix = f"dsta:rpc:idem:{domain}:"
        self.running_ttl = max(1, int(float(os.environ.get("DSTA_RPC_TIMEOUT_SECONDS", "10")) * 2))
        self.redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)

    def begin(self, function: str, key: str) -> bytes | None:
        """None: this try runs the call. Otherwise the stored answer, or RUNNING."""
        name = self.prefix + function + ":" + key
        if self.redis.set(name, RUNNING, nx=True, ex=self.running_ttl):
            return None
        stored = self.redis.get(name)
        return RUNNING if stored is None else bytes(stored)  # type: ignore[arg-type]

    def finish(self, function: str, key: str, answer: bytes) -> None:
        self.redis.set(self.prefix + function + ":" + key, answer, ex=RESULT_TTL_SECONDS)

    def abandon(self, function: str, key: str) -> None:
        self.redis.delete(self.prefix + function + ":" + key)
