"""The facade wire codec and request signatures, without a server."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import msgspec
import numpy as np
import pytest

from dsta.exchange import api as exchange_api
from dsta.exchange.contracts import (
    OrderRequest,
    OrderSide,
    OrderType,
    OrderView,
    RateLimited,
)
from dsta.kernel.rpc import signing
from dsta.kernel.rpc.codec import (
    FunctionCodec,
    declared_exceptions,
    error_decode,
    error_encode,
    exception_payload,
    exception_rebuild,
)
from dsta.kernel.rpc.facades import is_read

T0 = datetime(2025, 1, 1, 12, 30, 15, 123456, tzinfo=UTC)


def test_arguments_and_results_round_trip_exactly_from_the_type_hints():
    codec = FunctionCodec(exchange_api.order_submit, "order_submit")
    request = OrderRequest("BTC/USDT", OrderSide.SELL, OrderType.LIMIT, Decimal("0.000000010"), "c-1", Decimal("1e-8"))
    decoded = codec.decode_arguments(codec.encode_arguments({"venue": "paper", "request": request}))
    assert decoded == {"venue": "paper", "request": request, "paper_book": None}  # no in-process book over the wire
    assert (
        str(decoded["request"].amount) == "1.0E-8" or decoded["request"].amount.as_tuple() == request.amount.as_tuple()
    )
    assert isinstance(decoded["request"].side, OrderSide)
    view = OrderView(
        "paper", "1", "c-1", "BTC/USDT", OrderSide.BUY, OrderType.MARKET, "filled", Decimal("1.50"), Decimal("1.50"),
        Decimal(0), None, Decimal("100.10"), Decimal("0.1"), "USDT", T0, T0,
    )  # fmt: skip
    again = codec.decode_result(codec.encode_result(view))
    assert again == view and again.created_at == T0 and str(again.amount) == "1.50"


def test_defaults_come_from_the_signature_and_unknown_or_mistyped_arguments_are_refused():
    codec = FunctionCodec(exchange_api.paper_reset, "paper_reset")
    assert codec.decode_arguments(b"{}")["maker_fee"] == Decimal("0.001")
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        codec.decode_arguments(b'{"maker_fees": "1"}')
    with pytest.raises(msgspec.ValidationError, match="Expected `int`"):
        codec.decode_arguments(b'{"seed": "seven"}')


def test_numpy_arrays_keep_dtype_shape_and_values():
    from dsta.data import api as data_api

    codec = FunctionCodec(data_api.backtest_replay_targets, "backtest_replay_targets")
    columns = {name: np.linspace(1, 2, 6) for name in ("open", "high", "low", "close")}
    targets = np.array([np.nan, 1, 1, 0, np.nan, 0])
    decoded = codec.decode_arguments(codec.encode_arguments({**columns, "targets": targets}))
    assert decoded["close"].dtype == np.float64 and np.array_equal(decoded["targets"], targets, equal_nan=True)


def test_declared_exceptions_come_back_as_the_same_class_with_their_fields():
    from dsta.exchange import contracts

    declared = declared_exceptions(contracts)
    payload = error_decode(error_encode(exception_payload(RateLimited("slow down", retry_after=2.5), request_id="r1")))
    assert payload is not None
    rebuilt = exception_rebuild(payload, declared)
    assert type(rebuilt) is RateLimited and rebuilt.retry_after == 2.5 and str(rebuilt) == "slow down"
    assert "builtins.ValueError" not in declared and "ValueError" in declared
    payload.type = "os.system"  # a class the domain does not declare is never built
    assert exception_rebuild(payload, declared) is None


def test_a_signature_is_good_once_for_its_path_body_and_key_inside_the_window():
    key, nonces = b"k" * 32, signing.NonceCache()
    headers = signing.sign(key, path="/rpc/exchange/venues_list", body=b"{}")
    check = {"headers": headers, "path": "/rpc/exchange/venues_list", "nonces": nonces}
    assert signing.verify(b"other", body=b"{}", **check) == "bad signature"
    assert signing.verify(key, body=b'{"x":1}', **check) == "bad signature"  # tampered body
    assert signing.verify(key, body=b"{}", **{**check, "path": "/rpc/exchange/paper_reset"}) == "bad signature"
    assert signing.verify(key, body=b"{}", **check) is None
    assert signing.verify(key, body=b"{}", **check) == "replayed request"
    stale = signing.sign(key, path="/p", body=b"", now=time.time() - 120)
    assert "stale signature" in signing.verify(key, headers=stale, path="/p", body=b"", nonces=nonces)
    assert signing.verify(key, headers={}, path="/p", body=b"", nonces=nonces) == "missing signature headers"


def test_reads_are_told_from_writes_by_name():
    assert all(is_read(name) for name in ("ticker_get", "fills_list", "orders_open_list", "exchange_health"))
    assert not any(is_read(name) for name in ("order_submit", "order_cancel", "paper_reset", "predict"))
