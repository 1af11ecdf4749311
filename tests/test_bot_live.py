"""The bot's live mode against a local server speaking Binance's REST dialect: a symbol the venue does not
list is refused, live needs credentials and an audited arming step with its confirmation phrase."""

from __future__ import annotations

import pytest

from dsta.domains import DOMAINS
from dsta.exchange.tests.fake_venues import Binance, FakeVenueServer
from dsta.trading import bot
from dsta.trading.models import StrategyInstance

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS])
BASE = {
    "name": "btc-bot",
    "strategy": "sma_cross",
    "params": {"fast": 5, "slow": 12},
    "exchange": "binance",
    "symbol": "BTC/USDT",
    "timeframe": "1h",
}


@pytest.fixture
def api(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("trader", password="x" * 12))
    return client


@pytest.fixture
def binance(settings, redis_client, monkeypatch):
    from dsta.core import api as core
    from dsta.exchange import api

    server = FakeVenueServer(Binance()).start()
    monkeypatch.setenv("DSTA_EXCHANGE_BINANCE_URL", server.url)
    settings.DSTA_EXCHANGE_RETRY = {"attempts": 3, "base_delay": 0.01, "max_delay": 0.05}
    settings.DSTA_EXCHANGE_BREAKER = {"failure_threshold": 50, "cooldown": 0.5}
    settings.DSTA_EXCHANGE_TIMEOUT_MS = 1000
    core.secret_set(key="exchange/binance/api_key", value="test-key")
    core.secret_set(key="exchange/binance/secret", value="test-secret")
    for key in redis_client.scan_iter("dsta:exchange:*"):
        redis_client.delete(key)
    api.clients_reset()
    yield server
    api.clients_reset()
    server.stop()


def post(api, path, body=None):
    return api.post(path, body or {}, content_type="application/json")


def test_a_symbol_the_venue_does_not_list_is_a_400(api, binance):
    response = post(api, "/api/v1/strategies", {**BASE, "symbol": "DOGE/USDT"})
    assert response.status_code == 400 and "does not list DOGE/USDT" in response.json()["symbol"]
    live = post(api, "/api/v1/strategies", {**BASE, "mode": "live", "symbol": "ETH/USDT"})
    assert live.status_code == 201 and live.json()["venue"] == "binance"
    assert not StrategyInstance.objects.using("trading").filter(symbol="DOGE/USDT").exists()


def test_live_needs_arming_with_the_confirmation(api, binance):
    from dsta.core.models import AuditEntry

    instance_id = post(api, "/api/v1/strategies", {**BASE, "mode": "live"}).json()["id"]
    refused = post(api, f"/api/v1/strategies/{instance_id}/start")
    assert refused.status_code == 400 and "armed" in refused.json()
    assert post(api, f"/api/v1/strategies/{instance_id}/arm").status_code == 400  # no confirmation field
    wrong = post(api, f"/api/v1/strategies/{instance_id}/arm", {"confirmation": "yes"})
    assert wrong.status_code == 400 and "confirmation" in wrong.json()
    armed = post(api, f"/api/v1/strategies/{instance_id}/arm", {"confirmation": bot.ARM_CONFIRMATION})
    assert armed.status_code == 200 and armed.json()["armed_at"]
    assert post(api, f"/api/v1/strategies/{instance_id}/start").json()["state"] == "running"
    disarmed = post(api, f"/api/v1/strategies/{instance_id}/disarm").json()
    assert disarmed["armed_at"] is None and disarmed["state"] == "stopped"
    actions = list(AuditEntry.objects.filter(target=f"strategy:{instance_id}").values_list("action", flat=True))
    assert "trading.bot.arm" in actions and "trading.bot.disarm" in actions


def test_arm_a_live_instance_whose_credentials_went_away_is_a_400(api, binance):
    from dsta.core.models import Secret

    instance_id = post(api, "/api/v1/strategies", {**BASE, "mode": "live"}).json()["id"]
    Secret.objects.filter(key__startswith="exchange/binance/").delete()
    response = post(api, f"/api/v1/strategies/{instance_id}/arm", {"confirmation": bot.ARM_CONFIRMATION})
    assert response.status_code == 400 and "credentials" not in response.json() and "mode" in response.json()
