"""Paper trading right after `./dev up`: on a fresh database, `load_demo_data` alone gives trading its marks
(the latest bar of each market, published and delivered through the outbox) and the paper venue its prices
and funds, so paper orders through POST /api/v1/orders fill at the last close with the backtest's costs."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from dsta.data.management.commands.load_demo_data import DEMO_DIR
from dsta.domains import DOMAINS
from dsta.exchange.contracts import DEFAULT_COSTS

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
D = Decimal


def last_close(symbol: str) -> Decimal:
    import gzip

    with gzip.open(DEMO_DIR / f"{symbol.replace('/', '_')}-1h.csv.gz", "rt") as handle:
        return D(handle.read().splitlines()[-1].split(",")[4])


def deliver_outbox() -> None:
    """The relay, in this process: every pending event handed to the subscribed handlers."""
    from dsta.kernel.events import EventEnvelope
    from dsta.kernel.handlers import deliver
    from dsta.kernel.relay import Relay

    Relay(sender=lambda messages: deliver([EventEnvelope.from_message(m) for m in messages])).drain()


def test_after_load_demo_data_paper_market_and_limit_orders_fill_at_the_last_close(client, django_user_model):
    from dsta.exchange import api as exchange_api
    from dsta.trading import api as trading

    out = StringIO()
    call_command("load_demo_data", stdout=out)
    assert "published the latest bar of 5 markets" in out.getvalue()
    assert "paper venue funded with 10000 USDT" in out.getvalue()
    deliver_outbox()
    close = last_close("BTC/USDT")
    mark = trading.mark_price_get(exchange="binance", symbol="BTC/USDT")
    assert mark is not None and mark.price == close
    client.force_login(django_user_model.objects.create_superuser("trader", password="x" * 12))

    order = {"exchange": "paper", "symbol": "BTC/USDT", "side": "buy", "order_type": "market", "quantity": "0.01"}
    placed = client.post("/api/v1/orders", order, content_type="application/json")
    assert placed.status_code == 201, placed.content
    body = placed.json()
    assert body["status"] == "filled", body
    price = close * (1 + DEFAULT_COSTS.slippage)  # the backtest's slippage model, against the buyer
    assert D(body["average_price"]) == price
    [fill] = exchange_api.fills_list(venue="paper")
    assert (fill.price, fill.amount, fill.fee) == (price, D("0.01"), D("0.01") * price * DEFAULT_COSTS.commission)

    limit = {**order, "side": "sell", "order_type": "limit", "price": str(close - 1)}  # crossed by the last close
    sold = client.post("/api/v1/orders", limit, content_type="application/json")
    assert sold.status_code == 201 and sold.json()["status"] == "filled", sold.content
    assert D(sold.json()["average_price"]) == close

    # a second run keeps the venue's funds as they are and publishes the latest bars again (marks only)
    out = StringIO()
    call_command("load_demo_data", stdout=out)
    assert "funded" not in out.getvalue()


def test_load_demo_data_refuses_bad_paper_funds_before_loading_anything():
    from dsta.data import api as data

    with pytest.raises(CommandError, match="ASSET=AMOUNT"):
        call_command("load_demo_data", "--paper-funds", "USDT=lots")
    with pytest.raises(CommandError, match="positive"):
        call_command("load_demo_data", "--paper-funds", "USDT=-5")
    assert data.series_list() == []
