"""The public, stable import path for strategy authors: `from dsta.sdk import Strategy, Parameter, ...`.

A strategy is a class: `name`, `description`, `parameters`; `warmup()`, `indicators(bars)`, `decide(context)`
and optionally `target_exposures(bars, indicators)` for the fast path. The same class runs in backtests
(event and fast path), replay, paper and live trading. Put the file in a directory of DSTA_STRATEGY_PATHS
(default `strategies/`), or ship it in a package with a `dsta.strategies` entry point; `manage.py strategy
new NAME` writes a commented skeleton and `manage.py strategy check NAME` tests it. A strategy whose decision
at a bar depends on that bar's indicators only (never on position, cash, equity, state or the clock; market
orders without price or stops) may set `bar_local = True`: the event engine then reads each bar's decision from
`target_exposures` instead of calling `decide` (dsta/data/strategies/base.py); the default calls `decide`.

Whatever moves inside DSTA, these names stay importable from here. This module imports the strategy base,
bars and indicator helpers only, never Django or a model (tests/test_sdk.py keeps it so).
"""

from __future__ import annotations

from dsta.data.bars import Bars
from dsta.data.strategies import indicators
from dsta.data.strategies.base import HOLD, BarContext, Decision, InvalidParameters, Parameter, Strategy
from dsta.data.strategies.indicators import (
    atr,
    bollinger,
    ema,
    highest,
    lowest,
    macd,
    on_base,
    previous,
    resample,
    rsi,
    sma,
)

__all__ = [
    "HOLD",
    "BarContext",
    "Bars",
    "Decision",
    "InvalidParameters",
    "Parameter",
    "Strategy",
    "atr",
    "bollinger",
    "ema",
    "highest",
    "indicators",
    "lowest",
    "macd",
    "on_base",
    "previous",
    "resample",
    "rsi",
    "sma",
]
