"""Request rate limits per caller for the whole API (DRF throttles, counted in the Django cache, i.e. Redis):
one per user, whatever the credential, and one per API key, so one leaked or runaway key cannot take its
user's whole budget. Over the rate: 429 with Retry-After. Anonymous requests are not counted here (core's
login throttles guard the way in). Rates: settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]."""

from __future__ import annotations

import logging
from typing import Any

import redis
from rest_framework.throttling import SimpleRateThrottle

log = logging.getLogger(__name__)


class _FailOpenThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        # DRF binds THROTTLE_RATES once, when rest_framework.throttling is first imported; read the rates in
        # force now instead, so a settings change (a test's override, a reload) binds the next request.
        from rest_framework.settings import api_settings

        rate: str | None = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        return rate

    def allow_request(self, request: Any, view: Any) -> bool:
        # A Redis outage must not take the API down with it: the limit lapses until Redis is back.
        try:
            return bool(super().allow_request(request, view))
        except redis.RedisError as exc:
            log.warning("throttle_unavailable scope=%s error=%r", self.scope, exc)
            return True


class PerUserRateThrottle(_FailOpenThrottle):
    scope = "dsta_user"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        user_id = getattr(request.auth, "user_id", None)
        return None if user_id is None else str(self.cache_format % {"scope": self.scope, "ident": user_id})


class PerApiKeyRateThrottle(_FailOpenThrottle):
    scope = "dsta_api_key"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        principal = request.auth
        if getattr(principal, "auth_method", None) != "api_key":
            return None
        return str(self.cache_format % {"scope": self.scope, "ident": principal.token_id})
