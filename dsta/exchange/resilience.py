"""Rate limits, retries and circuit breakers for live venues, shared across processes through Redis.

- Token bucket per venue (Lua, atomic in Redis): every process spends from the same bucket; a call costs the
  weight ccxt declares for its endpoint (`calculate_rate_limiter_cost`), so heavy endpoints take more tokens.
- Retry with exponential backoff and full jitter on transient errors only (429/418 honour Retry-After).
- Circuit breaker per venue: `failure_threshold` consecutive transient failures open it for `cooldown`
  seconds; then one probe call at a time is let through (half-open); a success closes it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

import redis
from django.conf import settings

from dsta.exchange.contracts import (
    BreakerState,
    BusinessError,
    CircuitOpen,
    RateLimited,
    TransientError,
    VenueHealth,
)

T = TypeVar("T")

_TOKEN_BUCKET_LUA = """
local key = KEYS[1]
local capacity = tonumber(ARGV[1])
local refill_per_s = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local state = redis.call('HMGET', key, 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * refill_per_s)
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
else
  wait = (cost - tokens) / refill_per_s
end
redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', key, 3600)
return tostring(wait)
"""  # noqa: S105  (a Lua script, not a secret)


@dataclass(frozen=True)
class Limits:
    capacity: float  # burst, in ccxt cost units
    refill_per_second: float


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 5.0


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 5
    cooldown: float = 30.0


_client: redis.Redis | None = None


def redis_client() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL)
    return _client


class RateLimiter:
    """Shared token bucket; `acquire` blocks (sleeps) until `cost` tokens are spent for this caller."""

    def __init__(self, venue: str, limits: Limits, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.key = f"dsta:exchange:ratelimit:{venue}"
        self.limits = limits
        self.sleep = sleep
        self._script = redis_client().register_script(_TOKEN_BUCKET_LUA)

    def acquire(self, cost: float = 1.0) -> float:
        """Spend `cost` tokens, waiting for them if the bucket is short; returns the seconds waited."""
        cost = min(cost, self.limits.capacity)
        waited = 0.0
        while True:
            wait = float(self._script(keys=[self.key], args=[*self._args(cost), time.time()]))
            if wait <= 0:
                return waited
            # the tokens were not taken: sleep until they should be there and try again
            self.sleep(wait)
            waited += wait

    def _args(self, cost: float) -> list[float]:
        return [self.limits.capacity, self.limits.refill_per_second, cost]

    def tokens_left(self) -> Decimal:
        tokens_raw, at_raw = redis_client().hmget(self.key, "tokens", "at")
        if tokens_raw is None or at_raw is None:
            return Decimal(str(self.limits.capacity))
        elapsed = max(0.0, time.time() - float(at_raw))
        tokens = float(tokens_raw) + elapsed * self.limits.refill_per_second
        return Decimal(str(round(min(self.limits.capacity, tokens), 3)))

    def reset(self) -> None:
        redis_client().delete(self.key)


class CircuitBreaker:
    """Breaker state in a Redis hash, so every process sees (and feeds) the same state per venue."""

    def __init__(self, venue: str, policy: BreakerPolicy) -> None:
        self.venue = venue
        self.key = f"dsta:exchange:breaker:{venue}"
        self.probe_key = f"{self.key}:probe"
        self.policy = policy

    def _state(self) -> dict[str, str]:
        raw: dict[bytes, bytes] = redis_client().hgetall(self.key)  # type: ignore[assignment]
        return {key.decode(): value.decode() for key, value in raw.items()}

    def state(self) -> BreakerState:
        state = self._state()
        if state.get("state") != BreakerState.OPEN.value:
            return BreakerState.CLOSED
        if time.time() - float(state.get("opened_at", "0")) >= self.policy.cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def before_call(self) -> None:
        state = self.state()
        if state is BreakerState.OPEN:
            raise CircuitOpen(f"{self.venue}: circuit open after repeated failures ({self._state().get('last_error')})")
        # half-open: one probe at a time; the lock expires in case the prober dies
        if state is BreakerState.HALF_OPEN and not redis_client().set(self.probe_key, "1", nx=True, ex=30):
            raise CircuitOpen(f"{self.venue}: circuit half-open, a probe call is in flight")

    def record_success(self) -> None:
        client = redis_client()
        client.delete(self.key, self.probe_key)

    def record_failure(self, error: Exception) -> None:
        client = redis_client()
        failures = int(client.hincrby(self.key, "failures", 1))
        client.hset(self.key, "last_error", f"{type(error).__name__}: {error}"[:300])
        was_probing = client.delete(self.probe_key)
        if failures >= self.policy.failure_threshold or was_probing:
            client.hset(self.key, mapping={"state": BreakerState.OPEN.value, "opened_at": str(time.time())})

    def health(self, tokens_left: Decimal) -> VenueHealth:
        state = self._state()
        return VenueHealth(
            venue=self.venue,
            breaker_state=self.state(),
            consecutive_failures=int(state.get("failures", "0")),
            last_error=state.get("last_error", ""),
            rate_limit_tokens_left=tokens_left,
        )

    def reset(self) -> None:
        redis_client().delete(self.key, self.probe_key)


def call_resiliently(
    operation: Callable[[], T],
    *,
    breaker: CircuitBreaker,
    policy: RetryPolicy,
    before_retry: Callable[[], T | None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Run `operation` through the breaker, retrying transient errors with backoff and full jitter.

    `before_retry` runs before each retry and may return a result that makes the retry unnecessary (a
    create order checks whether the first attempt reached the venue after all). Business errors pass
    straight through and count as a healthy answer from the venue.
    """
    chooser = rng or random.Random()  # noqa: S311  (jitter, not security)  # nosec B311
    for attempt in range(1, policy.attempts + 1):
        breaker.before_call()
        try:
            if attempt > 1 and before_retry is not None:
                found = before_retry()
                if found is not None:
                    breaker.record_success()
                    return found
            result = operation()
        except TransientError as error:
            breaker.record_failure(error)
            if attempt == policy.attempts:
                raise
            delay = chooser.uniform(0, min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1)))
            if isinstance(error, RateLimited) and error.retry_after is not None:
                delay = max(delay, min(error.retry_after, policy.max_delay))
            sleep(delay)
        except BusinessError:
            breaker.record_success()  # the venue answered; a refusal is not an outage
            raise
        else:
            breaker.record_success()
            return result
    raise AssertionError("unreachable")  # the loop returns or raises
