"""The order, fill, position, P&L, risk-check and reconcile endpoints over the paper venue."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dsta.domains import DOMAINS
from dsta.exchange import api as exchange_api
from dsta.exchange.contracts import OrderBook, PriceLevel
from dsta.trading.models import MarkPrice, Position

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)
BUY = {"exchange": "paper", "symbol": "BTC/USDT", "side": "buy", "order_type": "market", "quantity": "1"}


def feed_book(bid: str, ask: str) -> None:
    exchange_api.paper_book_feed(
        book=OrderBook("paper", "BTC/USDT", T0, (PriceLevel(D(bid), D(10)),), (PriceLevel(D(ask), D(10)),))
    )


@pytest.fixture
def api(client, django_user_model):
    exchange_api.paper_reset(slippage_bps=D(0), slippage_jitter_bps=D(0))
    exchange_api.paper_deposit(asset="USDT", amount=D("100000"))
    feed_book("99", "100")
    MarkPrice.objects.using("trading").create(exchange="paper", symbol="BTC/USDT", price=D("100"), as_of=T0)
    client.force_login(django_user_model.objects.create_superuser("trader", password="x" * 12))
    return client


def post(api, url, body):
    return api.post(url, body, content_type="application/json")


def test_place_read_and_list_orders_fills_positions_and_pnl(api):
    placed = post(api, "/api/v1/orders", {**BUY, "client_order_id": "api-1"})
    assert placed.status_code == 201, placed.content
    body = placed.json()
    assert body["status"] == "filled" and D(body["average_price"]) == D(100)
    assert [t["to_status"] for t in body["transitions"]] == ["pending_risk", "submitted", "filled"]
    again = post(api, "/api/v1/orders", {**BUY, "client_order_id": "api-1"})  # a client's retry
    assert again.json()["id"] == body["id"] and len(exchange_api.fills_list(venue="paper")) == 1
    assert api.get(f"/api/v1/orders/{body['id']}").json()["client_order_id"] == "api-1"
    fills = api.get("/api/v1/fills?symbol=BTC-USDT").json()
    assert [(D(f["quantity"]), D(f["price"]), D(f["fee"])) for f in fills] == [(D(1), D(100), D("0.1"))]
    assert [D(p["quantity"]) for p in api.get("/api/v1/positions").json()] == [D(1)]
    assert D(api.get("/api/v1/positions/BTC-USDT").json()[0]["average_price"]) == D(100)
    assert api.get("/api/v1/positions/ETH-USDT").status_code == 404
    MarkPrice.objects.using("trading").update(price=D(105))
    pnl = {row["symbol"]: row for row in api.get("/api/v1/portfolio/pnl").json()}
    assert D(pnl["BTC/USDT"]["unrealised_pnl"]) == D(5) and D(pnl[""]["realised_pnl"]) == D("-0.1")


def test_active_orders_and_cancel(api):
    resting = post(api, "/api/v1/orders", {**BUY, "order_type": "limit", "price": "98"}).json()
    assert [o["id"] for o in api.get("/api/v1/orders/active").json()] == [resting["id"]]
    cancelled = api.put(f"/api/v1/orders/{resting['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert api.get("/api/v1/orders/active").json() == []
    assert api.put(f"/api/v1/orders/{resting['id']}/cancel").status_code == 409
    assert api.put("/api/v1/orders/999999/cancel").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"side": "hold"}, "side"),
        ({"quantity": "-1"}, "quantity"),
        ({"quantity": "abc"}, "quantity"),
        ({"order_type": "limit"}, "price"),
        ({"price": "100"}, "price"),
        ({"symbol": "BTCUSDT"}, "symbol"),
        ({"exchange": "nowhere"}, "exchange"),
    ],
)
def test_bad_orders_are_400_with_field_errors(api, change, field):
    response = post(api, "/api/v1/orders", {**BUY, **change})
    assert response.status_code == 400 and field in response.json()
    assert api.get("/api/v1/orders/active").json() == []


def test_risk_check_runs_without_placing_and_rejections_are_visible(api):
    check = post(api, "/api/v1/risk/check", {**BUY, "quantity": "150"})
    assert check.status_code == 200
    assert check.json()["approved"] is False
    assert [v["rule"] for v in check.json()["violations"]] == ["max_order_notional"]  # default limit 10,000
    assert post(api, "/api/v1/risk/check", BUY).json() == {"approved": True, "violations": []}
    assert api.get("/api/v1/orders/active").json() == [] and api.get("/api/v1/risk/violations").json() == []
    rejected = post(api, "/api/v1/orders", {**BUY, "quantity": "150"}).json()
    assert rejected["status"] == "rejected"
    assert [v["rule"] for v in api.get("/api/v1/risk/violations").json()] == ["max_order_notional"]


def test_reconcile_reports_then_repairs(api):
    post(api, "/api/v1/orders", BUY)
    Position.objects.using("trading").update(quantity=D("0.4"))
    report = post(api, "/api/v1/positions/reconcile", {"exchange": "paper"}).json()
    assert report["positions"] == [
        {"symbol": "BTC/USDT", "recorded": "0.4000000000", "exchange": "1", "repaired": False}
    ]
    repaired = post(api, "/api/v1/positions/reconcile", {"exchange": "paper", "repair": True}).json()
    assert repaired["positions"][0]["repaired"] is True
    assert D(api.get("/api/v1/positions/BTC-USDT").json()[0]["quantity"]) == D(1)
    assert post(api, "/api/v1/positions/reconcile", {"exchange": "nowhere"}).status_code == 400


def test_a_twap_order_is_accepted_as_a_parent_and_bad_plans_are_400(api):
    import dramatiq

    from dsta.trading import orders

    dramatiq.get_broker().flush("trading")
    body = {**BUY, "quantity": "2", "twap_slices": 4, "twap_duration_seconds": 60}
    parent = post(api, "/api/v1/orders", body)
    assert parent.status_code == 201, parent.content
    assert (parent.json()["algo"], parent.json()["slices"], parent.json()["interval_seconds"]) == ("twap", 4, 15)
    assert dramatiq.get_broker().client.llen("dramatiq:trading") == 1  # the first slice is queued
    orders.twap_place_slice(parent.json()["id"], 0)  # what the worker does with it
    assert [D(f["quantity"]) for f in api.get("/api/v1/fills").json()] == [D("0.5")]
    dramatiq.get_broker().flush("trading")
    assert post(api, "/api/v1/orders", {**BUY, "twap_slices": 4}).status_code == 400
    bad = post(api, "/api/v1/orders", {**body, "order_type": "limit", "price": "99"})
    assert bad.status_code == 400 and "order_type" in bad.json()


def test_a_rejected_order_carries_the_reasons_message_in_last_error(api):
    """Issue 14, item 3: the API's answer says why, not only which rule."""
    unpriced = post(api, "/api/v1/orders", {**BUY, "symbol": "ETH/USDT", "client_order_id": "no-mark-1"})
    assert unpriced.status_code == 201, unpriced.content
    body = unpriced.json()
    assert body["status"] == "rejected"
    assert body["last_error"] == "no last price for ETH/USDT; cannot value the order"
    assert body["transitions"][-1]["reason"] == "price"  # the transition keeps the rule's name
    assert api.get(f"/api/v1/orders/{body['id']}").json()["last_error"] == body["last_error"]
    too_big = post(api, "/api/v1/orders", {**BUY, "quantity": "150"}).json()
    assert too_big["last_error"] == "order notional above the limit"
