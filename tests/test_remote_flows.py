"""Two end-to-end flows run both ways: in-process, and with the domain served by `manage.py serve_domain` in its
own process on its own database. The order flow: POST /api/v1/orders -> risk -> exchange -> fills -> positions.
The ML flow: POST /api/v1/ml/train -> the registry -> promote -> POST /api/v1/ml/predict."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from dsta.domains import DOMAINS
from dsta.exchange import api as exchange_api
from dsta.exchange.contracts import OrderBook, PriceLevel
from tests.facade_modes import MODES, facade_mode

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)
BUY = {"exchange": "paper", "symbol": "BTC/USDT", "side": "buy", "order_type": "market", "quantity": "1"}


@pytest.fixture(scope="module", params=MODES)
def exchange_mode(request, served_domains):
    with facade_mode(request.param, "exchange", served_domains, set()):
        yield request.param


def paper_orders_in(admin_url: str) -> list[str]:
    """Client order ids of the paper orders stored in a database (read as its admin)."""
    with psycopg.connect(admin_url) as conn:
        return [row[0] for row in conn.execute("SELECT client_order_id FROM exchange.paper_order ORDER BY id")]


def test_order_flow_places_fills_and_positions(exchange_mode, client, django_user_model, served_domains):
    from dsta.trading.models import MarkPrice

    exchange_api.paper_reset(slippage_bps=D(0), slippage_jitter_bps=D(0))
    exchange_api.paper_deposit(asset="USDT", amount=D("100000"))
    book = OrderBook("paper", "BTC/USDT", T0, (PriceLevel(D(99), D(10)),), (PriceLevel(D(100), D(10)),))
    exchange_api.paper_book_feed(book=book)
    MarkPrice.objects.using("trading").create(exchange="paper", symbol="BTC/USDT", price=D("100"), as_of=T0)
    client.force_login(django_user_model.objects.create_superuser("trader", password="x" * 12))

    placed = client.post("/api/v1/orders", {**BUY, "client_order_id": "flow-1"}, content_type="application/json")
    assert placed.status_code == 201, placed.content
    body = placed.json()
    assert body["status"] == "filled" and D(body["average_price"]) == D(100)
    assert [t["to_status"] for t in body["transitions"]] == ["pending_risk", "submitted", "filled"]
    again = client.post("/api/v1/orders", {**BUY, "client_order_id": "flow-1"}, content_type="application/json")
    assert again.json()["id"] == body["id"] and len(exchange_api.fills_list(venue="paper")) == 1
    fills = client.get("/api/v1/fills?symbol=BTC-USDT").json()
    assert [(D(f["quantity"]), D(f["price"]), D(f["fee"])) for f in fills] == [(D(1), D(100), D("0.1"))]
    assert [D(p["quantity"]) for p in client.get("/api/v1/positions").json()] == [D(1)]

    # Where the exchange's order lives proves which way the call went.
    test_db = os.environ["DATABASE_URL"]
    if exchange_mode == "remote":
        service_db = served_domains.running["exchange"].admin_url
        assert paper_orders_in(service_db)[-1] == "flow-1" and paper_orders_in(test_db) == []
    else:
        assert paper_orders_in(test_db) == ["flow-1"]
