"""The facade contract suite: every public function of the exchange and ml facades, with the same test bodies
run in-process and against the domain served by `manage.py serve_domain` on its own database."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dsta.domains import DOMAINS
from dsta.exchange import api as exchange
from dsta.exchange.contracts import (
    BreakerState,
    CostModel,
    InvalidOrder,
    OhlcvBar,
    OrderBook,
    OrderNotFound,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    PriceLevel,
    UnknownVenue,
)
from dsta.kernel.rpc.facades import facade_module, public_functions
from dsta.ml import api as ml
from dsta.ml.contracts import MLInputError
from tests.facade_modes import MODES, facade_mode

pytestmark = [pytest.mark.facade, pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS])]
D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)
CALLED: dict[tuple[str, str], set[str]] = {}


@pytest.fixture(scope="module", params=MODES)
def exchange_mode(request, served_domains, fake_binance):
    saved = os.environ.get("DSTA_EXCHANGE_BINANCE_URL")
    os.environ["DSTA_EXCHANGE_BINANCE_URL"] = fake_binance.url  # the in-process venue clients use it too
    try:
        with facade_mode(
            request.param, "exchange", served_domains, CALLED.setdefault(("exchange", request.param), set())
        ):
            exchange.clients_reset()
            yield request.param
    finally:
        if saved is None:
            os.environ.pop("DSTA_EXCHANGE_BINANCE_URL", None)
        else:
            os.environ["DSTA_EXCHANGE_BINANCE_URL"] = saved


def book(bid: str, ask: str) -> OrderBook:
    return OrderBook("paper", "BTC/USDT", T0, (PriceLevel(D(bid), D(10)),), (PriceLevel(D(ask), D(10)),))


def market_buy(cid: str, amount: str = "1") -> OrderRequest:
    return OrderRequest("BTC/USDT", OrderSide.BUY, OrderType.MARKET, D(amount), cid)


def limit_buy(cid: str, price: str) -> OrderRequest:
    return OrderRequest("BTC/USDT", OrderSide.BUY, OrderType.LIMIT, D("0.5"), cid, price=D(price))


def test_exchange_venues_and_live_market_data(exchange_mode):
    assert [venue.name for venue in exchange.venues_list()] == ["binance", "gateio", "htx", "paper"]
    assert exchange.markets_list(venue="paper") == []
    markets = {market.symbol: market for market in exchange.markets_list(venue="binance")}
    assert set(markets) == {"BTC/USDT", "ETH/USDT"} and markets["BTC/USDT"].price_tick == D("0.01")
    ticker = exchange.ticker_get(venue="binance", symbol="BTC/USDT")
    assert (ticker.bid, ticker.ask, ticker.last) == (D("99.5"), D("100.5"), D("100"))
    bars = exchange.ohlcv_fetch(venue="binance", symbol="BTC/USDT", timeframe="1h", limit=3)
    assert len(bars) == 3 and bars[0].open_time == T0 and bars[0].high == D(110)
    trades = exchange.trades_recent(venue="binance", symbol="BTC/USDT", limit=10)
    assert [(trade.trade_id, trade.side) for trade in trades] == [("7", OrderSide.SELL), ("8", OrderSide.BUY)]
    assert exchange.venue_status(venue="binance").reachable
    health = {row.venue: row for row in exchange.exchange_health()}
    assert set(health) == {"binance", "gateio", "htx"}
    assert all(isinstance(row.breaker_state, BreakerState) for row in health.values())
    assert exchange.clients_reset() is None
    with pytest.raises(UnknownVenue, match="no candle history"):
        exchange.ohlcv_fetch(venue="paper", symbol="BTC/USDT", timeframe="1h")
    with pytest.raises(UnknownVenue, match="unknown venue 'nowhere'"):
        exchange.ticker_get(venue="nowhere", symbol="BTC/USDT")


def test_exchange_paper_order_lifecycle(exchange_mode):
    exchange.paper_reset(slippage_bps=D(0), slippage_jitter_bps=D(0))
    exchange.paper_costs_set(costs=CostModel(commission=D("0.002"), slippage=D(0)))  # a backtest's costs
    exchange.paper_deposit(asset="USDT", amount=D("100000"))
    exchange.paper_book_feed(book=book("99", "100"))
    top = exchange.order_book_get(venue="paper", symbol="BTC/USDT", depth=1)
    assert [(level.price, level.amount) for level in top.asks] == [(D(100), D(10))]
    filled = exchange.order_submit(venue="paper", request=market_buy("contract-1"))
    assert filled.status is OrderStatus.FILLED and filled.average_price == D(100) and filled.fills_complete
    again = exchange.order_submit(venue="paper", request=market_buy("contract-1"))  # idempotent by client id
    assert again.exchange_order_id == filled.exchange_order_id
    assert exchange.order_get(venue="paper", client_order_id="contract-1") == dataclasses.replace(again, fills=())
    fills = exchange.fills_list(venue="paper", client_order_id="contract-1")
    assert [(fill.amount, fill.price, fill.fee) for fill in fills] == [(D(1), D(100), D("0.2"))]
    assert {b.asset: b.total for b in exchange.balance_get(venue="paper")} == {"BTC": D(1), "USDT": D("99899.8")}

    together = exchange.orders_submit(
        venue="paper",
        requests=[market_buy("contract-2"), market_buy("contract-3", amount="100000")],  # 10m USDT: refused
        paper_books=[book("99", "100"), None],
    )
    assert [outcome.client_order_id for outcome in together] == ["contract-2", "contract-3"]
    assert together[0].view is not None and together[0].view.status is OrderStatus.FILLED
    assert together[1].view is None and "USDT" in together[1].refusal
    resting = [exchange.order_submit(venue="paper", request=limit_buy(f"rest-{i}", "90")) for i in range(3)]
    assert {view.status for view in resting} == {OrderStatus.OPEN}
    assert {v.client_order_id for v in exchange.orders_open_list(venue="paper")} == {"rest-0", "rest-1", "rest-2"}
    assert exchange.order_cancel(venue="paper", client_order_id="rest-0").status is OrderStatus.CANCELLED
    batch = exchange.orders_cancel_batch(venue="paper", client_order_ids=["rest-0", "rest-1"])
    assert [view.status for view in batch] == [OrderStatus.CANCELLED, OrderStatus.CANCELLED]
    exchange.paper_price_feed(symbol="BTC/USDT", bar=OhlcvBar(T0, D(95), D(96), D(89), D(92), D(100)))
    assert exchange.order_get(venue="paper", client_order_id="rest-2").status is OrderStatus.FILLED
    assert [trade.symbol for trade in exchange.trades_recent(venue="paper", symbol="BTC/USDT")] == ["BTC/USDT"] * 3
    assert exchange.fills_sync(venue="paper", symbol="BTC/USDT") == 0
    assert exchange.venue_status(venue="paper").detail == "simulated"
    assert exchange.ticker_get(venue="paper", symbol="BTC/USDT").symbol == "BTC/USDT"

    with pytest.raises(InvalidOrder, match="client_order_id is required"):
        exchange.order_submit(venue="paper", request=market_buy(""))
    with pytest.raises(OrderNotFound):
        exchange.order_get(venue="paper", client_order_id="never-placed")
    with pytest.raises(InvalidOrder, match="depth must be at least 1"):
        exchange.order_book_get(venue="paper", symbol="BTC/USDT", depth=0)
    with pytest.raises(TypeError):
        exchange.order_get(venue="paper")  # the same signature both ways


def test_exchange_suite_covers_every_public_function(exchange_mode):
    assert CALLED[("exchange", exchange_mode)] >= set(public_functions(facade_module("exchange")))


# -- ml ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=MODES)
def ml_mode(request, served_domains, committed_candles, tmp_path_factory):
    from django.conf import settings

    os.environ["DSTA_RPC_TIMEOUT_SECONDS_ML"] = "120"  # training with wait=True answers when it is done
    saved = settings.STATE_DIR
    settings.STATE_DIR = tmp_path_factory.mktemp("ml-state")
    try:
        with facade_mode(request.param, "ml", served_domains, CALLED.setdefault(("ml", request.param), set())):
            yield request.param
    finally:
        settings.STATE_DIR = saved


SERIES = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h"}


def test_ml_features_training_registry_and_predictions(ml_mode):
    name = f"contract-{ml_mode}"
    info = ml.features_extract(**SERIES)
    assert info.rows > 2000 and info.columns
    table = ml.features_get(**SERIES, limit=5)
    assert table is not None and table.values.shape == (5, len(info.columns)) and table.info.columns == info.columns
    assert ml.features_get(exchange="binance", symbol="NOPE/USDT", timeframe="1h") is None

    params = {"regimes": 2, "folds": 2}
    first = ml.training_start(kind="regime", model_name=name, **SERIES, params=params, wait=True)
    assert first.status == "succeeded", first.error
    assert ml.training_job_get(job_id=first.job_id) == first
    second = ml.training_start(kind="regime", model_name=name, **SERIES, params=params, wait=True)
    versions = {model.version: model for model in ml.models_list(name=name)}
    assert sorted(versions) == [1, 2] and {model.status for model in versions.values()} == {"staging"}
    assert ml.model_get(model_id=first.model_id) == versions[1]

    assert ml.model_promote(model_id=versions[1].model_id).status == "production"
    assert ml.model_promote(model_id=versions[2].model_id).status == "production"
    assert ml.model_rollback(name=name).model_id == versions[1].model_id
    prediction = ml.predict(name=name)
    assert prediction.model_id == versions[1].model_id and prediction.model_version == 1
    assert ml.prediction_get(prediction_id=prediction.prediction_id) == prediction

    split = ml.ab_split_set(name=name, model_a_id=versions[1].model_id, model_b_id=second.model_id, share_b=0.5)
    assert (split.share_b, split.model_b_id) == (0.5, second.model_id)
    assert ml.ab_split_clear(name=name) is True
    assert ml.model_delete(model_id=second.model_id) is True
    assert ml.model_get(model_id=second.model_id) is None

    with pytest.raises(MLInputError, match="direction models"):  # ml_signal reads a direction model only
        ml.ml_signal_backtest(model_id=first.model_id, **SERIES)
    with pytest.raises(MLInputError):
        ml.ml_signal_prediction(name="no-such-model", bar_time=T0, **SERIES)

    with pytest.raises(MLInputError) as refused:  # a declared exception arrives with its fields
        ml.training_start(kind="no-such-kind", model_name=name, **SERIES, wait=True)
    assert isinstance(refused.value.errors, dict) and refused.value.errors


def test_ml_suite_covers_every_public_function(ml_mode):
    assert CALLED[("ml", ml_mode)] >= set(public_functions(facade_module("ml")))
