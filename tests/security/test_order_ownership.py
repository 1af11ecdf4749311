"""Orders and client order ids across users (issue 20, item 10).

The model: one desk, one account per venue. The book is shared: positions and risk are per venue account, and
any trader may see and cancel the desk's orders (the audit log names who did, from where). A client_order_id
belongs to the user who placed it: another user reusing it gets a 409, never that user's order, and nothing is
audited in their name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from dsta.core.models import AuditEntry
from dsta.core.tests.factories import access_token_for, bearer, user_with_role
from dsta.domains import DOMAINS
from dsta.exchange import api as exchange_api
from dsta.exchange.contracts import OrderBook, PriceLevel
from dsta.trading.models import MarkPrice, Order

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)
AUDIT_MARK = 0
BUY = {"exchange": "paper", "symbol": "BTC/USDT", "side": "buy", "order_type": "market", "quantity": "1"}


@pytest.fixture
def traders():
    exchange_api.paper_reset(slippage_bps=D(0), slippage_jitter_bps=D(0))
    exchange_api.paper_deposit(asset="USDT", amount=D("100000"))
    exchange_api.paper_book_feed(
        book=OrderBook("paper", "BTC/USDT", T0, (PriceLevel(D(99), D(10)),), (PriceLevel(D(100), D(10)),))
    )
    MarkPrice.objects.using("trading").create(exchange="paper", symbol="BTC/USDT", price=D("100"), as_of=T0)
    global AUDIT_MARK  # the audit log is append-only (no flush clears it): look at this test's rows only
    AUDIT_MARK = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    clients = []
    for name in ("trader-a", "trader-b"):
        user = user_with_role("trader", username=name)
        clients.append((user, APIClient(**bearer(access_token_for(user)))))
    return clients


def audited(action: str) -> list[tuple[int | None, str, str | None]]:
    rows = AuditEntry.objects.filter(action=action, id__gt=AUDIT_MARK).order_by("id")
    return [(row.actor_id, row.target, row.ip_address) for row in rows]


def test_another_traders_client_order_id_is_a_409_and_never_their_order(traders):
    (a, as_a), (b, as_b) = traders
    placed = as_a.post("/api/v1/orders", {**BUY, "client_order_id": "desk-1"}, format="json")
    assert placed.status_code == 201, placed.content
    reused = as_b.post("/api/v1/orders", {**BUY, "client_order_id": "desk-1"}, format="json")
    assert reused.status_code == 409, reused.content
    assert "client_order_id" in reused.json() and "id" not in reused.json()
    assert str(placed.json()["id"]) not in reused.content.decode()  # nothing of A's order leaks
    assert list(Order.objects.using("trading").values_list("client_order_id", "user_id")) == [("desk-1", a.pk)]
    assert audited("trading.order.place") == [(a.pk, "desk-1", "127.0.0.1")]  # nothing in B's name
    assert len(exchange_api.fills_list(venue="paper")) == 1
    retry = as_a.post("/api/v1/orders", {**BUY, "client_order_id": "desk-1"}, format="json")  # the owner's retry
    assert retry.status_code == 201 and retry.json()["id"] == placed.json()["id"]


def test_an_algo_parent_under_another_traders_id_is_a_409_too(traders):
    (a, as_a), (_, as_b) = traders
    twap = {**BUY, "quantity": "2", "twap_slices": 2, "twap_duration_seconds": 60, "client_order_id": "desk-twap"}
    assert as_a.post("/api/v1/orders", twap, format="json").status_code == 201
    assert as_b.post("/api/v1/orders", twap, format="json").status_code == 409
    assert Order.objects.using("trading").get(client_order_id="desk-twap").user_id == a.pk


def test_the_book_is_shared_any_trader_cancels_a_desk_order_and_the_audit_names_them(traders):
    (a, as_a), (b, as_b) = traders
    resting = as_a.post("/api/v1/orders", {**BUY, "order_type": "limit", "price": "98"}, format="json").json()
    assert [order["id"] for order in as_b.get("/api/v1/orders/active").json()] == [resting["id"]]
    cancelled = as_b.put(f"/api/v1/orders/{resting['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert audited("trading.order.cancel") == [(b.pk, resting["client_order_id"], "127.0.0.1")]
