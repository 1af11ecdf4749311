"""The /api/v1/exchange/ endpoints over the paper venue and a fake live venue."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dsta.exchange import api
from dsta.exchange.contracts import OhlcvBar

pytestmark = pytest.mark.django_db(databases=["exchange", "default"], transaction=True)


@pytest.fixture
def user_client(client, django_user_model):
    user = django_user_model.objects.create_superuser(username="trader", password="pw-123456")
    client.force_login(user)
    return client


@pytest.fixture
def paper():
    api.paper_reset(slippage_bps=Decimal(0), slippage_jitter_bps=Decimal(0))
    api.paper_deposit(asset="USDT", amount=Decimal("1000"))
    bar = OhlcvBar(datetime(2025, 1, 1, tzinfo=UTC), *map(Decimal, ("100", "101", "99", "100", "50")))
    api.paper_price_feed(symbol="BTC/USDT", bar=bar)


def test_endpoints_need_authentication(client):
    assert client.get("/api/v1/exchange/health").status_code == 401
    assert client.post("/api/v1/exchange/paper/order", {}, content_type="application/json").status_code == 401


def test_order_lifecycle_on_the_paper_venue(user_client, paper):
    body = {
        "symbol": "BTC/USDT",
        "side": "buy",
        "order_type": "limit",
        "amount": "2",
        "price": "95",
        "client_order_id": "web-1",
    }
    created = user_client.post("/api/v1/exchange/paper/order", body, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["status"] == "open" and created.json()["price"] == "95"
    fetched = user_client.get("/api/v1/exchange/paper/order/web-1").json()
    assert fetched["exchange_order_id"] == created.json()["exchange_order_id"]
    account = user_client.get("/api/v1/exchange/paper/account").json()
    assert [o["client_order_id"] for o in account["open_orders"]] == ["web-1"]
    usdt = next(b for b in account["balances"] if b["asset"] == "USDT")
    assert Decimal(usdt["used"]) == Decimal("2") * 95 * Decimal("1.001")
    cancelled = user_client.post(
        "/api/v1/exchange/paper/cancel", {"client_order_id": "web-1"}, content_type="application/json"
    )
    assert cancelled.json()["status"] == "cancelled"
    batch = user_client.post(
        "/api/v1/exchange/paper/batch-cancel", {"client_order_ids": ["web-1"]}, content_type="application/json"
    )
    assert [o["status"] for o in batch.json()] == ["cancelled"]
    balance = user_client.get("/api/v1/exchange/paper/balance").json()
    assert [(b["asset"], Decimal(b["free"]), Decimal(b["used"])) for b in balance] == [("USDT", 1000, 0)]
    ticker = user_client.get("/api/v1/exchange/paper/ticker/BTC-USDT").json()
    assert ticker["last"].startswith("100")
    assert user_client.get("/api/v1/exchange/paper/status").json()["reachable"] is True


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"symbol", "side", "order_type", "amount", "client_order_id"}),
        (
            {"symbol": "btcusdt", "side": "hold", "order_type": "stop", "amount": "x", "client_order_id": "a b"},
            {"symbol", "side", "order_type", "amount", "client_order_id"},
        ),
        (
            {"symbol": "BTC/USDT", "side": "buy", "order_type": "limit", "amount": "1", "client_order_id": "c1"},
            {"price"},
        ),
        (
            {"symbol": "BTC/USDT", "side": "buy", "order_type": "market", "amount": "-1", "client_order_id": "c1"},
            {"amount"},
        ),
        (
            {
                "symbol": "BTC/USDT",
                "side": "buy",
                "order_type": "market",
                "amount": "1",
                "price": "5",
                "client_order_id": "c1",
            },
            {"price"},
        ),
    ],
)
def test_bad_order_input_is_400_with_field_errors(user_client, body, fields):
    response = user_client.post("/api/v1/exchange/paper/order", body, content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()) == fields


def test_exchange_errors_map_to_statuses(user_client, paper):
    assert user_client.get("/api/v1/exchange/nowhere/balance").status_code == 404
    assert user_client.get("/api/v1/exchange/paper/order/missing").status_code == 404
    body = {
        "symbol": "BTC/USDT",
        "side": "buy",
        "order_type": "limit",
        "amount": "100",
        "price": "95",
        "client_order_id": "too-big",
    }
    refused = user_client.post("/api/v1/exchange/paper/order", body, content_type="application/json")
    assert refused.status_code == 400 and refused.json()["error"] == "InsufficientFunds"
    assert user_client.get("/api/v1/exchange/paper/orderbook/BTC-USDT?depth=0").status_code == 400


def test_health_and_live_venue_through_the_fake(user_client, fake_venue):
    ticker = user_client.get("/api/v1/exchange/binance/ticker/BTC_USDT")
    assert ticker.status_code == 200 and ticker.json()["bid"] == "99.5"
    book = user_client.get("/api/v1/exchange/binance/orderbook/BTC-USDT?depth=1").json()
    assert book["asks"] == [{"price": "100.5", "amount": "1.5"}]
    fake_venue.faults.add("GET /api/v3/ticker/24hr", *["500"] * 8)
    assert user_client.get("/api/v1/exchange/binance/ticker/BTC-USDT").status_code == 503
    assert user_client.get("/api/v1/exchange/binance/ticker/BTC-USDT").status_code == 503
    health = {h["venue"]: h for h in user_client.get("/api/v1/exchange/health").json()}
    assert health["binance"]["breaker_state"] == "open" and health["binance"]["consecutive_failures"] >= 5
    assert health["gateio"]["breaker_state"] == "closed"
    assert Decimal(health["binance"]["rate_limit_tokens_left"]) >= 0
