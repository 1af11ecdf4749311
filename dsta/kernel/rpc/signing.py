"""HMAC-SHA256 request signatures between a caller and a served domain.

The signed text is the timestamp, a random nonce, the path, the idempotency key and the body, so a signature is
good for one request only: a stale timestamp (beyond the replay window) or a nonce already seen inside the
window is refused. The key is `DSTA_RPC_KEY_<DOMAIN>`; in development it is derived from SECRET_KEY, so a
caller and a service started from the same settings agree without configuration.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

TIMESTAMP_HEADER = "x-dsta-timestamp"
NONCE_HEADER = "x-dsta-nonce"
SIGNATURE_HEADER = "x-dsta-signature"
IDEMPOTENCY_HEADER = "idempotency-key"


def replay_window_seconds() -> float:
    return float(os.environ.get("DSTA_RPC_REPLAY_WINDOW_SECONDS", "30"))


def domain_key(domain: str) -> bytes:
    configured = os.environ.get(f"DSTA_RPC_KEY_{domain.upper()}", "")
    if configured:
        return configured.encode()
    if not getattr(settings, "DEV_MODE", False):
        raise ImproperlyConfigured(f"DSTA_RPC_KEY_{domain.upper()} must be set outside development")
    return hmac.new(settings.SECRET_KEY.encode(), f"dsta-rpc:{domain}".encode(), hashlib.sha256).digest()


def _signed_text(timestamp: str, nonce: str, path: str, idempotency_key: str, body: bytes) -> bytes:
    return f"{timestamp}\n{nonce}\n{path}\n{idempotency_key}\n".encode() + body


def sign(key: bytes, *, path: str, body: bytes, idempotency_key: str = "", now: float | None = None) -> dict[str, str]:
    """The headers that sign one request."""
    timestamp = f"{time.time() if now is None else now:.6f}"
    nonce = secrets.token_hex(12)
    digest = hmac.new(key, _signed_text(timestamp, nonce, path, idempotency_key, body), hashlib.sha256).hexdigest()
    return {TIMESTAMP_HEADER: timestamp, NONCE_HEADER: nonce, SIGNATURE_HEADER: digest}


class NonceCache:
    """Nonces seen inside the replay window (per server process)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def first_use(self, nonce: str, *, now: float, window: float) -> bool:
        with self._lock:
            if now >= self._next_sweep:
                self._seen = {key: at for key, at in self._seen.items() if at > now - 2 * window}
                self._next_sweep = now + window
            if nonce in self._seen:
                return False
            self._seen[nonce] = now
            return True


def verify(
    key: bytes,
    *,
    headers: dict[str, str],
    path: str,
    body: bytes,
    nonces: NonceCache,
    now: float | None = None,
) -> str | None:
    """None when the request is signed by `key`, fresh and not a replay; otherwise why it is refused."""
    timestamp, nonce, signature = (headers.get(h, "") for h in (TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER))
    if not (timestamp and nonce and signature):
        return "missing signature headers"
    try:
        sent_at = float(timestamp)
    except ValueError:
        return "malformed timestamp"
    idempotency_key = headers.get(IDEMPOTENCY_HEADER, "")
    expected = hmac.new(key, _signed_text(timestamp, nonce, path, idempotency_key, body), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "bad signature"
    now = time.time() if now is None else now
    window = replay_window_seconds()
    if abs(now - sent_at) > window:
        return f"stale signature ({now - sent_at:+.1f} s outside the {window:g} s window)"
    if not nonces.first_use(nonce, now=now, window=window):
        return "replayed request"
    return None
