"""`GET /metrics`: Prometheus exposition. Allowed from the addresses in `DSTA_METRICS_ALLOWED_IPS` (default
loopback) or with `Authorization: Bearer <DSTA_METRICS_TOKEN>` when a token is set; everyone else gets 403."""

from __future__ import annotations

import hmac
import ipaddress
import os
from functools import cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from dsta.observability.collectors import DstaCollector


@cache
def _allowed_networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())


def metrics_allowed(request: HttpRequest) -> bool:
    token = settings.DSTA_METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme == "Bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in _allowed_networks(settings.DSTA_METRICS_ALLOWED_IPS))


_scrape_registry = CollectorRegistry(auto_describe=False)
_scrape_registry.register(DstaCollector())


def exposition() -> bytes:
    """Every process's counters and histograms (summed over the multiprocess directory when there is one),
    then the gauges computed now."""
    multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if multiproc_dir:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=multiproc_dir)
        counted = generate_latest(registry)
    else:
        counted = generate_latest(REGISTRY)
    return counted + generate_latest(_scrape_registry)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        return HttpResponse("metrics are not available from this address\n", status=403, content_type="text/plain")
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
