"""OHLCV, order book and ticker endpoints, and reports rendered by a worker into storage."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import override_settings

from dsta.data import api as data
from dsta.data.contracts import OrderBookLevel, OrderBookSnapshot, TickerSnapshot
from dsta.data.tests.helpers import import_series
from dsta.domains import DOMAINS
from dsta.kernel.tests import processes

ALL = [domain.alias for domain in DOMAINS]


@pytest.fixture
def analyst(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("analyst", password="x" * 12))
    return client


@pytest.mark.django_db(databases=["data", "default"])
def test_ohlcv_endpoint_reads_a_range_with_exact_prices(analyst):
    import_series("BTC/USDT")
    body = analyst.get(
        "/api/v1/market-data/ohlcv/BTC-USDT?timeframe=1h&start=2024-09-14T00:00:00Z&end=2024-09-14T03:00:00Z"
    ).json()
    assert [bar["open_time"] for bar in body] == [f"2024-09-14T0{h}:00:00Z" for h in range(3)]
    assert body[0]["open"] == "60497.9900000000" and body[0]["symbol"] == "BTC/USDT"
    assert len(analyst.get("/api/v1/market-data/ohlcv/BTC_USDT?timeframe=1h&limit=5").json()) == 5
    assert analyst.get("/api/v1/market-data/ohlcv/BTC-USDT?timeframe=1h&limit=0").status_code == 400


@pytest.mark.django_db(databases=["data", "default"])
def test_orderbook_and_ticker_endpoints_return_the_latest_snapshot(analyst):
    assert analyst.get("/api/v1/market-data/orderbook/BTC-USDT").status_code == 404
    for minute, best_bid in ((0, "100.10"), (1, "100.20")):
        data.order_book_record(
            snapshot=OrderBookSnapshot(
                "binance",
                "BTC/USDT",
                datetime(2025, 1, 1, 0, minute, tzinfo=UTC),
                [OrderBookLevel(Decimal(best_bid), Decimal("1.5")), OrderBookLevel(Decimal("99"), Decimal("3"))],
                [OrderBookLevel(Decimal("100.30"), Decimal("0.25"))],
            )
        )
    body = analyst.get("/api/v1/market-data/orderbook/BTC-USDT?exchange=binance").json()
    assert body["taken_at"] == "2025-01-01T00:01:00Z"
    assert body["bids"] == [["100.20", "1.5"], ["99", "3"]] and body["asks"] == [["100.30", "0.25"]]
    assert data.order_book_latest(exchange="binance", symbol="BTC/USDT").bids[0].price == Decimal("100.20")

    data.ticker_record(
        ticker=TickerSnapshot(
            "binance",
            "BTC/USDT",
            datetime(2025, 1, 1, tzinfo=UTC),
            Decimal("100.25"),
            Decimal("100.2"),
            Decimal("100.3"),
            Decimal("12.5"),
        )
    )
    body = analyst.get("/api/v1/market-data/ticker/BTC-USDT").json()
    values = tuple(Decimal(body[key]) for key in ("last", "bid", "ask", "base_volume"))
    assert values == (Decimal("100.25"), Decimal("100.2"), Decimal("100.3"), Decimal("12.5"))
    assert body["taken_at"] == "2025-01-01T00:00:00Z"


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_report_is_rendered_by_a_worker_and_stored_on_the_filesystem(
    clean_broker, children, tmp_path, client, django_user_model
):
    import_series("BTC/USDT")
    import_series("ETH/USDT")
    reports_dir = tmp_path / "reports"
    children(processes.worker(tmp_path, DSTA_STATE_DIR=str(tmp_path), threads=1))
    client.force_login(django_user_model.objects.create_superuser("analyst", password="x" * 12))
    response = client.post(
        "/api/v1/analytics/reports/generate",
        {"symbols": ["BTC/USDT", "ETH/USDT"], "timeframe": "1h", "start": "2025-01-01T00:00:00Z"},
        content_type="application/json",
    )
    assert response.status_code == 202
    url = f"/api/v1/analytics/reports/{response.json()['id']}"
    assert processes.wait_until(lambda: client.get(url).json()["status"] != "pending", timeout=90)
    report = client.get(url).json()
    assert report["status"] == "done", report["error"]
    stored = reports_dir / report["path"]
    page = stored.read_text()
    assert page.count("data:image/png;base64,") == 2  # equity/drawdown and correlation charts
    assert "Sharpe" in page and "BTC/USDT" in page and "ETH/USDT" in page
    reports_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(reports_dir)},
    }
    with override_settings(STORAGES={**settings.STORAGES, "reports": reports_storage}):
        html = client.get(report["html"])
        assert html.status_code == 200 and html["Content-Type"] == "text/html"
        assert b"".join(html.streaming_content).decode() == page
    assert (
        client.post("/api/v1/analytics/reports/generate", {"symbols": []}, content_type="application/json").status_code
        == 400
    )
