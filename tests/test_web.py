"""Health probes, the OpenAPI docs and the admin, through Django's test client."""

from __future__ import annotations

import pytest
from django.test import override_settings

from dsta.domains import DOMAINS

ALL = [domain.alias for domain in DOMAINS]


def test_healthz_answers_without_touching_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db(databases=ALL)
def test_readyz_checks_every_domain_alias_and_redis(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {f"db:{domain.alias}" for domain in DOMAINS} | {"redis"}
    assert set(body["checks"].values()) == {"ok"}


@pytest.mark.django_db(databases=ALL)
def test_readyz_is_503_when_redis_is_down(client):
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("error")
    assert response.json()["checks"]["db:data"] == "ok"


@pytest.mark.django_db(databases=ALL)
def test_openapi_schema_and_swagger_ui_are_served_locally(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/market-data/series" in schema.content
    page = client.get("/api/schema/swagger-ui/")
    assert page.status_code == 200
    assert b"cdn." not in page.content and b"swagger-ui" in page.content


@pytest.mark.django_db(databases=ALL)
def test_admin_login_page_renders(client):
    assert client.get("/admin/login/").status_code == 200


@pytest.mark.django_db(databases=ALL)
def test_market_data_series_needs_authentication_then_lists_series(client, django_user_model):
    from datetime import UTC, datetime
    from decimal import Decimal

    from dsta.core.tests.factories import user_with_role
    from dsta.data import api as data
    from dsta.data.contracts import CandleBar

    assert client.get("/api/v1/market-data/series").status_code == 401
    data.candle_close(
        bar=CandleBar(
            "binance", "SOL/USDT", "1h", datetime(2025, 1, 1, tzinfo=UTC), *map(Decimal, ["1", "2", "0.5", "1.5", "10"])
        )
    )
    client.force_login(django_user_model.objects.create_user("no-role", password="x" * 12))
    assert client.get("/api/v1/market-data/series").status_code == 403  # signed in, but holding no role
    client.force_login(user_with_role("viewer"))
    response = client.get("/api/v1/market-data/series")
    assert response.status_code == 200
    assert response.json() == [
        {
            "exchange": "binance",
            "symbol": "SOL/USDT",
            "timeframe": "1h",
            "candles": 1,
            "first_open_time": "2025-01-01T00:00:00Z",
            "last_open_time": "2025-01-01T00:00:00Z",
        }
    ]
