"""`manage.py backtest` loads only what it uses, and its report's chart is inline SVG of the same series."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from dsta.data.backtesting.accounting import TradeRecord
from dsta.data.backtesting.report import MAX_POINTS, render_report
from dsta.data.bars import Bars

ROOT = Path(__file__).resolve().parents[3]
# drf_spectacular and rest_framework are installed apps (their checks modules load); their views and schema
# machinery must not. channels.layers (core's config reads the layer) is small; the consumers are the stack.
NOT_FOR_THE_CLI = (
    "matplotlib",
    "drf_spectacular.plumbing",
    "rest_framework.views",
    "channels.generic.websocket",
    "ccxt",
    "torch",
    "whitenoise",
    "daphne",
    # structlog's package import loads both when installed (~0.17 s); dsta.kernel.logging imports it without them
    "rich",
    "twisted",
    "jsonschema",  # core.config imports it where a value with a schema is written
    "opentelemetry.sdk.metrics",  # redis-py 8 loads it for its opt-in OTel metrics; kernel.broker_redis hides it
)


def test_the_backtest_command_and_its_report_import_no_web_stack_plotting_or_exchange_library():
    code = (
        "import sys, django; django.setup()\n"
        "from django.core.management import load_command_class\n"
        "command = load_command_class('dsta.data', 'backtest')\n"
        "from dsta.data.backtesting import report\n"
        "from dsta.data.strategies.builtin import SmaCross\n"
        "assert command.requires_system_checks == [], 'system checks import the whole URL conf'\n"
        f"print(sorted(n for n in {NOT_FOR_THE_CLI!r} if n in sys.modules))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "dsta.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _bars(count: int) -> Bars:
    close = 100 + np.cumsum(np.sin(np.arange(count) / 15))
    return Bars(
        symbol="BTC/USDT",
        timeframe="1h",
        time_ms=1_700_000_000_000 + np.arange(count, dtype=np.int64) * 3_600_000,
        open=close,
        high=close + 1,
        low=close - 1,
        close=close,
        volume=np.ones(count),
    )


def test_the_report_chart_draws_every_series_point_and_a_marker_per_trade():
    bars = _bars(2 * MAX_POINTS + 10)  # strided by 2
    trades = [
        TradeRecord(i, i + 7, "long", 1.0, float(bars.close[i]), float(bars.close[i + 7]), 0.1, 1.0, 0.01, "signal")
        for i in range(0, 800, 20)
    ]
    equity = 10_000 + np.cumsum(np.cos(np.arange(len(bars)) / 30))
    page = render_report(
        title="sma_cross <BTC/USDT>",
        bars=bars,
        equity=equity,
        trades=trades,
        metrics={"trades": len(trades)},
        settings={"fee": "0.001"},
    )
    assert "matplotlib" not in page and "sma_cross &lt;BTC/USDT&gt;" in page and page.count("<svg") == 1
    price, equity_line, drawdown = re.findall(r'class="series" points="([^"]+)"', page)
    assert len(price.split()) == len(equity_line.split()) == MAX_POINTS + 5
    assert len(drawdown.split()) == MAX_POINTS + 5 + 2  # the area closes on the zero line
    assert page.count('class="entry"') == page.count('class="exit"') == len(trades)
    first_y = float(equity_line.split()[0].split(",")[1])
    lowest_y = max(float(point.split(",")[1]) for point in equity_line.split())
    assert first_y < lowest_y  # equity dips below its start, drawn lower on the page
    assert "2023-11-14T22:13" in page  # the time axis is labelled with the first bar's time


def test_a_portfolio_report_lists_symbols_and_marks_no_trades_on_the_basket():
    bars = _bars(300)
    trades = [TradeRecord(5, 50, "long", 1.0, 100.0, 101.0, 0.1, 1.0, 0.01, "signal")]
    page = render_report(
        title="portfolio",
        bars=bars,
        equity=np.full(len(bars), 10_000.0),  # flat: no drawdown, the chart still draws
        trades=trades,
        metrics={"trades": 1},
        settings={},
        trade_symbols=["ETH/USDT"],
    )
    assert 'class="entry"' not in page and "<td>ETH/USDT</td>" in page and "equal-weight basket" in page
    assert page.count('class="series"') == 3


def test_rich_and_twisted_still_import_after_structlog_for_whoever_needs_them_and_tracebacks_are_plain():
    code = (
        "import sys, logging, django; django.setup()\n"
        "assert 'rich' not in sys.modules and 'twisted' not in sys.modules\n"
        "import rich, twisted\n"  # hidden only while structlog itself was imported
        "from dsta.kernel.logging import configure_logging\n"
        "configure_logging(level='INFO', json=False)\n"
        "try:\n"
        "    secret_local = 'tok-123'\n"
        "    raise RuntimeError('boom')\n"
        "except RuntimeError:\n"
        "    logging.getLogger('probe').exception('failed')\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "dsta.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback (most recent call last)" in result.stderr and "RuntimeError: boom" in result.stderr
    assert "tok-123" not in result.stderr  # no frame's local variables in the log
