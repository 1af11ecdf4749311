from __future__ import annotations

import pytest

from dsta.exchange.tests.fake_venues import Binance, FakeVenueServer

FAST_RETRY = {"attempts": 4, "base_delay": 0.01, "max_delay": 0.05}


@pytest.fixture
def fake_venue(request, settings, redis_client, monkeypatch):
    """A fake venue server on 127.0.0.1 with DSTA pointed at it, credentials in core's encrypted store, and
    clean breaker and rate-limit state. Parametrise indirectly with the dialect class (Binance by default)."""
    from dsta.core import api as core
    from dsta.exchange import api

    dialect = getattr(request, "param", Binance)()
    server = FakeVenueServer(dialect).start()
    venue = {"binance": "binance", "gate": "gateio", "htx": "htx"}[dialect.name]
    monkeypatch.setenv(f"DSTA_EXCHANGE_{venue.upper()}_URL", server.url)
    settings.DSTA_EXCHANGE_RETRY = FAST_RETRY
    settings.DSTA_EXCHANGE_BREAKER = {"failure_threshold": 5, "cooldown": 0.5}
    settings.DSTA_EXCHANGE_TIMEOUT_MS = 1000
    core.secret_set(key=f"exchange/{venue}/api_key", value="test-key")
    core.secret_set(key=f"exchange/{venue}/secret", value="test-secret")
    for key in redis_client.scan_iter("dsta:exchange:*"):
        redis_client.delete(key)
    api.clients_reset()
    server.venue = venue
    yield server
    api.clients_reset()
    server.stop()
