"""The WebSocket hub against real Redis (channel layer) and the fake Binance server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from dsta.exchange import streams
from dsta.exchange.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(databases=["exchange", "default"], transaction=True)

PATH = "/api/v1/exchange/binance/stream"


class Authenticated:
    """Stands in for the session middleware: puts a logged-in user into the scope."""

    def __init__(self, inner, user):
        self.inner, self.user = inner, user

    async def __call__(self, scope, receive, send):
        return await self.inner({**scope, "user": self.user}, receive, send)


@pytest.fixture
def hub(settings, django_user_model, redis_client):
    settings.DSTA_EXCHANGE_STREAM_INTERVAL = 0.1
    for key in redis_client.scan_iter("dsta:exchange.*"):
        redis_client.delete(key)
    user = django_user_model.objects.create_superuser(username="watcher", password="pw-123456")
    yield Authenticated(URLRouter(websocket_urlpatterns), user)
    for key in redis_client.scan_iter("dsta:exchange.*"):
        redis_client.delete(key)


async def updates(communicator, count):
    received = []
    while len(received) < count:
        message = await communicator.receive_json_from(timeout=5)
        if "data" in message or ("error" in message and "channel" in message):
            received.append(message)
    return received


def test_one_upstream_feed_fans_out_to_many_clients(hub, fake_venue, redis_client):
    async def scenario():
        clients = [WebsocketCommunicator(hub, PATH) for _ in range(3)]
        for client in clients:
            connected, _ = await client.connect()
            assert connected
            await client.send_json_to({"action": "subscribe", "channel": "ticker", "symbol": "BTC/USDT"})
            assert (await client.receive_json_from(timeout=5)) == {
                "subscribed": {"channel": "ticker", "symbol": "BTC/USDT"}
            }
        key = streams.feed_key("binance", "ticker", "BTC/USDT")
        assert streams.subscriber_count(key) == 3
        received = [await updates(client, 5) for client in clients]
        for messages in received:
            assert all(m["data"]["bid"] == "99.5" and m["symbol"] == "BTC/USDT" for m in messages)
        # one feed polled the venue: about one request per update, not one per client
        requests = fake_venue.count("GET", "/api/v3/ticker/24hr")
        assert requests < 5 * 2
        for client in clients:
            await client.disconnect()
        await asyncio.sleep(0.5)
        assert streams.subscriber_count(key) == 0
        assert redis_client.get(f"dsta:{key}:feed") is None  # the feed stopped and released its lock
        settled = fake_venue.count("GET", "/api/v3/ticker/24hr")
        await asyncio.sleep(0.4)
        assert fake_venue.count("GET", "/api/v3/ticker/24hr") == settled

    async_to_sync(scenario)()


def test_order_book_channel_and_venue_errors_reach_clients(hub, fake_venue):
    async def scenario():
        client = WebsocketCommunicator(hub, PATH)
        await client.connect()
        await client.send_json_to({"action": "subscribe", "channel": "orderbook", "symbol": "BTC/USDT"})
        await client.receive_json_from(timeout=5)
        first = (await updates(client, 1))[0]
        assert first["data"]["asks"][0] == {"price": "100.5", "amount": "1.5"}
        fake_venue.faults.add("GET /api/v3/depth", *["500"] * 4)
        messages = await updates(client, 3)
        assert any("ExchangeUnavailable" in m.get("error", "") for m in messages)
        await client.disconnect()

    async_to_sync(scenario)()


def test_bad_messages_get_field_errors_and_anonymous_is_refused(hub):
    async def scenario():
        client = WebsocketCommunicator(hub, PATH)
        await client.connect()
        await client.send_json_to({"action": "watch", "channel": "candles", "symbol": "btc"})
        answer = await client.receive_json_from(timeout=5)
        assert set(answer["fields"]) == {"action", "channel", "symbol"}
        await client.disconnect()
        anonymous = WebsocketCommunicator(Authenticated(URLRouter(websocket_urlpatterns), AnonymousUser()), PATH)
        connected, code = await anonymous.connect()
        assert not connected and code == 4401
        unknown = WebsocketCommunicator(hub, "/api/v1/exchange/nowhere/stream")
        connected, code = await unknown.connect()
        assert not connected and code == 4404

    async_to_sync(scenario)()


def test_trades_channel_on_the_paper_venue(hub):
    from decimal import Decimal

    from dsta.exchange import api
    from dsta.exchange.contracts import OrderBook, OrderRequest, OrderSide, OrderType, PriceLevel

    api.paper_reset(slippage_bps=Decimal(0), slippage_jitter_bps=Decimal(0))
    api.paper_deposit(asset="USDT", amount=Decimal(1000))
    now = datetime(2025, 1, 1, tzinfo=UTC)
    level = (PriceLevel(Decimal(100), Decimal(5)),)
    api.paper_book_feed(book=OrderBook("paper", "BTC/USDT", now, level, level))
    request = OrderRequest("BTC/USDT", OrderSide.BUY, OrderType.MARKET, Decimal("0.5"), "ws-1")
    api.order_submit(venue="paper", request=request)

    async def scenario():
        client = WebsocketCommunicator(hub, "/api/v1/exchange/paper/stream")
        await client.connect()
        await client.send_json_to({"action": "subscribe", "channel": "trades", "symbol": "BTC/USDT"})
        await client.receive_json_from(timeout=5)
        message = (await updates(client, 1))[0]
        assert [(t["side"], t["price"], t["amount"]) for t in message["data"]] == [("buy", "100", "0.5")]
        await client.disconnect()

    async_to_sync(scenario)()
