"""The market-data WebSocket (/api/v1/market-data/stream/{symbol}) through the project's ASGI application and
the real Redis channel layer: a committed candle reaches the symbol's subscribers and nobody else."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from dsta.data import api as data
from dsta.data.contracts import CandleBar
from dsta.domains import DOMAINS

ALL = [domain.alias for domain in DOMAINS]


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_stream_pushes_each_committed_candle_to_its_symbol_subscribers(clean_broker, django_user_model):
    from dsta.asgi import application
    from dsta.core.tests.factories import user_with_role

    user = user_with_role("viewer")
    outsider = django_user_model.objects.create_user("no-role", password="x" * 12)

    async def scenario():
        anonymous = WebsocketCommunicator(application, "/api/v1/market-data/stream/BTC-USDT")
        connected, code = await anonymous.connect()
        assert not connected and code == 4401
        unprivileged = WebsocketCommunicator(application, "/api/v1/market-data/stream/BTC-USDT")
        unprivileged.scope["user"] = outsider
        connected, code = await unprivileged.connect()
        assert not connected and code == 4403

        btc = WebsocketCommunicator(application, "/api/v1/market-data/stream/BTC-USDT")
        btc.scope["user"] = user
        eth = WebsocketCommunicator(application, "/api/v1/market-data/stream/ETH_USDT")
        eth.scope["user"] = user
        assert (await btc.connect())[0] and (await eth.connect())[0]
        price = Decimal("64000.5")
        bar = CandleBar(
            "binance",
            "BTC/USDT",
            "1m",
            datetime(2025, 2, 1, 12, 0, tzinfo=UTC),
            price,
            price,
            price,
            price,
            Decimal("1.25"),
        )
        await sync_to_async(data.candle_close)(bar=bar)
        message = await btc.receive_json_from(timeout=5)
        assert message == {
            "exchange": "binance",
            "symbol": "BTC/USDT",
            "timeframe": "1m",
            "open_time": "2025-02-01T12:00:00+00:00",
            "open": "64000.5",
            "high": "64000.5",
            "low": "64000.5",
            "close": "64000.5",
            "volume": "1.25",
        }
        assert await eth.receive_nothing(timeout=0.5)
        await btc.disconnect()
        await eth.disconnect()

    asyncio.run(scenario())
