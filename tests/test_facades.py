"""Facades are the swap point for a later service split: keyword-only functions of frozen dataclasses."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import typing
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import models

from dsta.domains import DOMAINS

FACADES = [importlib.import_module(f"dsta.{domain.name}.api") for domain in DOMAINS]
CONTRACTS = [importlib.import_module(f"dsta.{domain.name}.contracts") for domain in DOMAINS]
PRIMITIVES = (type(None), bool, int, float, str, Decimal, datetime)


def public_functions(module):
    return [
        (name, function)
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if not name.startswith("_") and function.__module__ == module.__name__
    ]


def leaf_types(annotation):
    origin = typing.get_origin(annotation)
    if origin is None:
        return [annotation]
    return [leaf for argument in typing.get_args(annotation) for leaf in leaf_types(argument)]


ALL_FUNCTIONS = [(module.__name__, name, fn) for module in FACADES for name, fn in public_functions(module)]


@pytest.mark.parametrize(("module", "name", "function"), ALL_FUNCTIONS, ids=lambda v: v if isinstance(v, str) else "")
def test_facade_functions_take_keywords_only(module, name, function):
    for parameter in inspect.signature(function).parameters.values():
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, f"{module}.{name}({parameter.name})"


@pytest.mark.parametrize(("module", "name", "function"), ALL_FUNCTIONS, ids=lambda v: v if isinstance(v, str) else "")
def test_facade_functions_return_contracts_never_models(module, name, function):
    hints = typing.get_type_hints(function)
    assert "return" in hints, f"{module}.{name} has no return annotation"
    for leaf in leaf_types(hints["return"]):
        assert not (isinstance(leaf, type) and issubclass(leaf, models.Model)), f"{module}.{name} returns a model"
        is_frozen_dataclass = dataclasses.is_dataclass(leaf) and leaf.__dataclass_params__.frozen
        assert is_frozen_dataclass or leaf in PRIMITIVES, f"{module}.{name} returns {leaf!r}"


@pytest.mark.parametrize("module", CONTRACTS, ids=lambda m: m.__name__)
def test_contract_dataclasses_are_frozen(module):
    for _, value in inspect.getmembers(module, dataclasses.is_dataclass):
        if value.__module__ == module.__name__:
            assert value.__dataclass_params__.frozen, value


@pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS])
def test_facades_hand_back_dataclasses_at_run_time():
    from dsta.core import api as core
    from dsta.data import api as data
    from dsta.data.contracts import CandleBar
    from dsta.exchange import api as exchange
    from dsta.trading import api as trading

    bar = CandleBar("binance", "BTC/USDT", "1h", datetime(2025, 1, 1, tzinfo=UTC), *map(Decimal, "12345"))
    data.candle_close(bar=bar)
    results = [
        data.candles_get(exchange="binance", symbol="BTC/USDT", timeframe="1h"),
        data.series_list(),
        exchange.venues_list(),
        [trading.mark_price_get(exchange="binance", symbol="BTC/USDT")],
        [core.user_get(user_id=1)],
    ]
    assert results[0] == [bar]
    for values in results:
        for value in values:
            assert value is None or (dataclasses.is_dataclass(value) and not isinstance(value, models.Model))
