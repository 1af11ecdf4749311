"""Liveness and readiness probes (project wiring, not a domain)."""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse

from dsta.domains import DOMAINS


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """Every domain alias answers as its own role in its own schema, and Redis answers PING."""
    checks: dict[str, str] = {}
    for domain in DOMAINS:
        try:
            with connections[domain.alias].cursor() as cursor:
                cursor.execute("SELECT current_schema()")
                schema = cursor.fetchone()[0]
            checks[f"db:{domain.alias}"] = "ok" if schema == domain.schema else f"wrong schema {schema!r}"
        except Exception as exc:
            checks[f"db:{domain.alias}"] = f"error: {type(exc).__name__}"
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        client.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503)
