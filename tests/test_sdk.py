"""dsta.sdk is the strategy authors' stable import path: it offers the strategy interface and its helpers,
and imports the strategy base only (no Django, no model, no other domain)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED_DIRECT_IMPORTS = {
    "dsta.data.bars",
    "dsta.data.strategies",
    "dsta.data.strategies.base",
    "dsta.data.strategies.indicators",
}


def test_the_public_names_are_the_strategy_interface_itself():
    import dsta.sdk as sdk
    from dsta.data.strategies import base

    assert (sdk.Strategy, sdk.Parameter, sdk.Decision, sdk.HOLD, sdk.BarContext) == (
        base.Strategy,
        base.Parameter,
        base.Decision,
        base.HOLD,
        base.BarContext,
    )
    assert set(sdk.__all__) <= set(dir(sdk))
    for helper in (
        "sma",
        "ema",
        "rsi",
        "atr",
        "bollinger",
        "macd",
        "highest",
        "lowest",
        "previous",
        "resample",
        "on_base",
    ):
        assert callable(getattr(sdk, helper))


def test_importing_the_sdk_loads_no_django_and_no_model():
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    script = (
        "import sys, dsta.sdk\n"
        # the exchange's contracts (plain dataclasses: the cost model data's contracts share) and the kernel's
        # one input-error type (plain Python: InvalidParameters derives from it) are no model
        "contracts = {'dsta.exchange', 'dsta.exchange.contracts', 'dsta.kernel', 'dsta.kernel.errors',"
        " 'dsta.kernel.ta_lib'}\n"
        "loaded = sorted(m for m in sys.modules if m not in contracts and (m.split('.')[0] == 'django' or "
        "m.startswith(('dsta.data.models', 'dsta.data.selectors', 'dsta.data.services', 'dsta.data.backtesting',"
        " 'dsta.core', 'dsta.trading', 'dsta.ml', 'dsta.exchange', 'dsta.kernel'))))\n"
        "print(repr(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_sdk_imports_only_the_strategy_base_directly():
    import grimp

    graph = grimp.build_graph("dsta")
    direct = graph.find_modules_directly_imported_by("dsta.sdk")
    assert direct and direct <= ALLOWED_DIRECT_IMPORTS, direct - ALLOWED_DIRECT_IMPORTS
