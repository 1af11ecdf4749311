"""Password guessing limits, shared by every way of signing in (API tokens, the web app, the Django admin).

- Per client address: at most DSTA_LOGIN_IP_ATTEMPTS_PER_MINUTE attempts a minute, whatever the account.
- Per (account, address): DSTA_LOGIN_MAX_FAILURES wrong passwords lock that pair, first for
  DSTA_LOGIN_LOCKOUT_BASE_SECONDS, doubling with each further failure up to DSTA_LOGIN_LOCKOUT_SECONDS. Guessing
  from one address therefore locks only that address out; the owner elsewhere is not affected.
- Per account: past DSTA_LOGIN_ACCOUNT_CEILING failures in the window (a spread-out attack), each address gets one
  attempt per DSTA_LOGIN_SLOW_SECONDS, and all unknown addresses together share one: an attack from many addresses
  slows to a crawl, while the owner, from an address they signed in from before, is slowed but never locked out.

Counters live in Redis; account names and addresses are hashed in the key names.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:  # the callers pass the client in: redis-py's import (~0.1 s) is not this module's to pay
    import redis

KNOWN_ADDRESS_DAYS = 90
PREFIX = "dsta:core:login"


class Throttled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("too many login attempts")
        self.retry_after = max(int(retry_after), 1)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _keys(username: str, ip: str) -> dict[str, str]:
    account, address = _hash(username.lower()), _hash(ip)
    return {
        "ip": f"{PREFIX}:ip:{address}",
        "pair_failures": f"{PREFIX}:fail:{account}:{address}",
        "pair_lock": f"{PREFIX}:lock:{account}:{address}",
        "account_failures": f"{PREFIX}:acct:{account}",
        "known": f"{PREFIX}:known:{account}",
        "slow_known": f"{PREFIX}:slow:{account}:{address}",
        "slow_unknown": f"{PREFIX}:slow:{account}:unknown",
        "address": address,
    }


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def check(client: redis.Redis, *, username: str, ip: str) -> None:
    """Raise Throttled when this attempt must wait; otherwise count it."""
    keys = _keys(username, ip)
    lock_ttl = int(client.ttl(keys["pair_lock"]))
    if lock_ttl > 0:
        raise Throttled(lock_ttl)
    attempts = int(client.incr(keys["ip"]))
    if attempts == 1:
        client.expire(keys["ip"], 60)
    if attempts > settings.DSTA_LOGIN_IP_ATTEMPTS_PER_MINUTE:
        raise Throttled(int(client.ttl(keys["ip"])))
    if int(client.get(keys["account_failures"]) or 0) >= _setting("DSTA_LOGIN_ACCOUNT_CEILING", 50):
        known = bool(client.sismember(keys["known"], keys["address"]))
        slow_key = keys["slow_known"] if known else keys["slow_unknown"]
        slow_seconds = _setting("DSTA_LOGIN_SLOW_SECONDS", 5)
        if not client.set(slow_key, "1", nx=True, ex=slow_seconds):
            raise Throttled(int(client.ttl(slow_key)))


def failed(client: redis.Redis, *, username: str, ip: str) -> bool:
    """Count a wrong password; True when it (re)locked this (account, address) pair."""
    keys = _keys(username, ip)
    window = settings.DSTA_LOGIN_FAILURE_WINDOW_SECONDS
    pipe = client.pipeline()
    pipe.incr(keys["pair_failures"])
    pipe.expire(keys["pair_failures"], window)
    pipe.incr(keys["account_failures"])
    pipe.expire(keys["account_failures"], window)
    failures = int(pipe.execute()[0])
    over = failures - settings.DSTA_LOGIN_MAX_FAILURES
    if over < 0:
        return False
    base = _setting("DSTA_LOGIN_LOCKOUT_BASE_SECONDS", 30)
    delay = min(settings.DSTA_LOGIN_LOCKOUT_SECONDS, base * 2 ** min(over, 20))
    client.set(keys["pair_lock"], "1", ex=max(int(delay), 1))
    return True


def succeeded(client: redis.Redis, *, username: str, ip: str) -> None:
    """The owner is in: their address becomes a known one, and its failures are forgiven."""
    keys = _keys(username, ip)
    pipe = client.pipeline()
    pipe.delete(keys["pair_failures"], keys["pair_lock"])
    pipe.sadd(keys["known"], keys["address"])
    pipe.expire(keys["known"], KNOWN_ADDRESS_DAYS * 24 * 3600)
    pipe.execute()
