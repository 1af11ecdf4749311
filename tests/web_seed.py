"""Rows the web app's tests show: a position, an open order, a risk violation, candles, a backtest, an ML
model and a notification, written through facades where one exists and as plain rows otherwise."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from django.core.management import call_command

from dsta.core import api as core_api

DEMO_BTC = Path(__file__).resolve().parent.parent / "dsta" / "data" / "demo" / "BTC_USDT-1h.csv.gz"


def seed_trading() -> None:
    from dsta.trading.models import MarkPrice, Order, Position, RiskViolation

    Position.objects.using("trading").create(
        exchange="binance",
        symbol="ETH/USDT",
        quantity=Decimal("1.75"),
        average_price=Decimal("3012.5"),
        realised_pnl=Decimal("42.25"),
        fees=Decimal("1.5"),
    )
    MarkPrice.objects.using("trading").create(
        exchange="binance", symbol="ETH/USDT", price=Decimal("3112.5"), as_of=datetime(2025, 3, 1, tzinfo=UTC)
    )
    Order.objects.using("trading").create(
        client_order_id="web-open-order-1",
        exchange="binance",
        symbol="SOL/USDT",
        side="buy",
        order_type="limit",
        quantity=Decimal("12"),
        price=Decimal("101.25"),
        status="submitted",
    )
    Order.objects.using("trading").create(
        client_order_id="web-filled-order-1",
        exchange="binance",
        symbol="XRP/USDT",
        side="sell",
        order_type="market",
        quantity=Decimal("5"),
        status="filled",
    )
    RiskViolation.objects.using("trading").create(
        rule="max_order_notional", message="order notional 99999 above 50000", symbol="BTC/USDT", limits_version=1
    )


def seed_candles(directory: Path, *, rows: int = 600) -> None:
    """The first `rows` real BTC/USDT 1h bars of the bundled demo file, imported as `import_ohlcv` does."""
    with gzip.open(DEMO_BTC, "rt") as source:
        lines = [line for _, line in zip(range(rows + 1), source, strict=False)]
    path = directory / "BTC_USDT-1h.csv"
    path.write_text("".join(lines))
    call_command("import_ohlcv", str(path), exchange="binance", symbol="BTC/USDT", timeframe="1h", no_progress=True)


def seed_ml_model() -> None:
    from dsta.ml.models import MLModel

    MLModel.objects.using("ml").create(
        name="btc-direction",
        version=3,
        kind="lightgbm",
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
        feature_set="basic",
        feature_set_version=1,
        feature_columns=["ret_1", "rsi_14"],
        metrics={"accuracy": 0.5625},
        artefact_path="/nonexistent/model.bin",
        status="production",
    )


def seed_notification() -> None:
    core_api.notification_send(
        channel="email", recipient="ops@example.test", subject="Breaker tripped on BTC/USDT", body="see dashboard"
    )
