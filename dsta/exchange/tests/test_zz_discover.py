import pytest
from decimal import Decimal
from dsta.exchange import api
from dsta.exchange.contracts import *
from dsta.exchange.tests.fake_venues import Gate, Binance
pytestmark = pytest.mark.django_db(databases=["exchange", "default"], transaction=True)

@pytest.mark.parametrize("fake_venue", [Gate], indirect=True)
def test_discover(fake_venue):
    v = fake_venue.venue
    calls = [
        lambda: api.markets_list(venue=v)[:1],
        lambda: api.ticker_get(venue=v, symbol="BTC/USDT"),
        lambda: api.order_book_get(venue=v, symbol="BTC/USDT", depth=5),
        lambda: api.ohlcv_fetch(venue=v, symbol="BTC/USDT", timeframe="1h", limit=3)[:1],
        lambda: api.balance_get(venue=v),
        lambda: api.order_submit(venue=v, request=OrderRequest("BTC/USDT", OrderSide.BUY, OrderType.LIMIT, Decimal("0.01"), "cid1", Decimal("90"))),
        lambda: api.order_get(venue=v, client_order_id="cid1"),
        lambda: api.orders_open_list(venue=v, symbol="BTC/USDT"),
        lambda: api.order_cancel(venue=v, client_order_id="cid1"),
        lambda: api.fills_list(venue=v, symbol="BTC/USDT"),
        lambda: api.venue_status(venue=v),
        lambda: api.exchange_health(),
    ]
    for call in calls:
        try:
            print("OK", call())
        except Exception as e:
            print("ERR", type(e).__name__, e)
    print("UNKNOWN", fake_venue.unknown)
    print("REQS", fake_venue.requests)
