"""Postgres stopped under a running web server: an order answers 503 with Retry-After and a clear message
(never a 500 or a traceback), the web app shows its error page, and once Postgres is back nothing of the
refused requests was written; the order retried with the same client order id is placed exactly once."""

from __future__ import annotations

import time

import httpx
from django.db import connections

from tests.reliability import harness

SYMBOL = "ADA/USDT"


def order_body(client_order_id: str) -> dict[str, str]:
    return {
        "exchange": "paper",
        "symbol": SYMBOL,
        "side": "buy",
        "order_type": "market",
        "quantity": str(harness.QUANTITY),
        "client_order_id": client_order_id,
    }


def written_for(client_order_id: str) -> dict[str, int]:
    from dsta.trading.models import Order, OrderTransition

    orders = Order.objects.using("trading").filter(client_order_id=client_order_id)
    events = [
        event
        for name in ("trading.order_status", "trading.order_placed", "exchange.fill")
        for event in harness.events_published(name)
        if event.get("client_order_id") == client_order_id
    ]
    return {
        "orders": orders.count(),
        "transitions": OrderTransition.objects.using("trading").filter(order__in=orders).count(),
        "events": len(events),
    }


def test_orders_and_pages_answer_503_while_postgres_is_down_and_nothing_is_half_written(private_db, children, tmp_path):
    services = private_db
    harness.ensure_admin()
    harness.paper_venue_for_buys(SYMBOL)
    port = harness.free_port()
    base = f"http://127.0.0.1:{port}"
    web = children(harness.web(tmp_path, port=port))
    assert harness.wait_http(f"{base}/healthz", timeout=180), web.log_tail()
    token = harness.login(base, "reliability", harness.ADMIN_PASSWORD)
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    browser = httpx.Client(base_url=base, timeout=30)
    browser.get("/login/")
    signed_in = browser.post(
        "/login/",
        data={
            "username": "reliability",
            "password": harness.ADMIN_PASSWORD,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
    )
    assert signed_in.status_code == 302, signed_in.text[:500]
    assert browser.get("/").status_code == 200
    assert api.post("/api/v1/orders", json=order_body("db-down-before")).status_code == 201

    connections.close_all()
    services.stop_postgres()
    try:
        started = time.monotonic()
        refused = api.post("/api/v1/orders", json=order_body("db-down-during"))
        took = time.monotonic() - started
        listing = api.get("/api/v1/orders/active")
        page = browser.get("/")
    finally:
        services.start_postgres()

    assert refused.status_code == 503, refused.text[:500]
    assert refused.json()["code"] == "database_unavailable"
    assert "client_order_id" in refused.json()["detail"]
    assert int(refused.headers["Retry-After"]) > 0
    assert took < 15, f"the refusal took {took:.1f} s"
    assert listing.status_code == 503 and listing.headers["Retry-After"]
    assert page.status_code == 503 and "Temporarily unavailable" in page.text
    assert page.headers["content-type"].startswith("text/html")
    for answer in (refused, listing, page):
        assert "Traceback" not in answer.text and "OperationalError" not in answer.text

    assert harness.wait_http(f"{base}/readyz", timeout=60), web.log_tail()
    connections.close_all()
    assert written_for("db-down-during") == {"orders": 0, "transitions": 0, "events": 0}
    before = written_for("db-down-before")
    assert before["orders"] == 1 and before["transitions"] == 3, before

    placed = api.post("/api/v1/orders", json=order_body("db-down-during"))
    assert placed.status_code == 201, placed.text[:500]
    again = api.post("/api/v1/orders", json=order_body("db-down-during"))
    assert again.is_success and again.json()["id"] == placed.json()["id"]
    assert written_for("db-down-during")["orders"] == 1
    assert browser.get("/").status_code == 200  # the session outlived the outage
    assert web.process is not None and web.process.poll() is None, "the web server exited"
