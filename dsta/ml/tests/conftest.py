from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from dsta.kernel.tests.openapi import ConformingClient

DEMO_DIR = Path(__file__).resolve().parents[2] / "data" / "demo"


def import_demo(symbol: str) -> None:
    call_command(
        "import_ohlcv",
        str(DEMO_DIR / f"{symbol.replace('/', '_')}-1h.csv.gz"),
        exchange="binance",
        symbol=symbol,
        timeframe="1h",
        no_progress=True,
        stdout=StringIO(),
    )


@pytest.fixture
def client() -> ConformingClient:
    """Every JSON answer of the API these tests get is checked against the OpenAPI schema."""
    return ConformingClient()


@pytest.fixture
def btc_candles():
    import_demo("BTC/USDT")


@pytest.fixture
def api(client, django_user_model, settings, tmp_path):
    # Permissions per role are the RBAC matrix's business (tests/test_rbac_matrix.py); here: what the endpoints do.
    settings.STATE_DIR = tmp_path / "state"
    client.force_login(django_user_model.objects.create_superuser("quant", password="x" * 12))
    return client
