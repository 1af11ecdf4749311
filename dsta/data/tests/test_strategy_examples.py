"""The built-in examples: each one causal, its fast path (when it has one) trading exactly like its event path,
and its rule checked against an independent computation of it (pandas, or a plain loop)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dsta.data.backtesting import strategy_checks as checks
from dsta.data.backtesting.engine import BacktestConfig, run_event_driven
from dsta.data.backtesting.portfolio import run_shared_cash
from dsta.data.backtesting.vectorized import run_vectorised
from dsta.data.bars import Bars
from dsta.data.strategies.indicators import on_base, resample
from dsta.data.strategies.registry import strategy_class

CONFIG = BacktestConfig(commission=0.0)


@pytest.fixture(scope="module")
def btc() -> Bars:
    return checks.demo_bars("BTC/USDT", bars=4_000)


def synthetic_5m(count: int = 4_000, seed: int = 1, start_ms: int = 1_735_689_900_000) -> Bars:
    """A random walk of 5m bars starting mid-hour (so the first hour is incomplete)."""
    generator = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(generator.normal(0, 0.002, count)))
    open_ = np.concatenate(([100.0], close[:-1]))
    spread = np.abs(generator.normal(0, 0.001, count)) * close
    time_ms = start_ms + 300_000 * np.arange(count, dtype=np.int64)
    return Bars(
        "SYN/USDT",
        "5m",
        time_ms,
        open_,
        np.maximum(open_, close) + spread,
        np.minimum(open_, close) - spread,
        close,
        np.ones(count),
    )


@pytest.mark.parametrize(
    "name", ["sma_cross", "rsi_reversion", "bollinger_reversion", "donchian_breakout", "macd_trend", "ema_long_short"]
)
def test_every_example_is_causal_and_its_fast_path_equals_its_event_path(btc, name):
    strategy = strategy_class(name)()
    assert strategy_class(name).__doc__ and strategy.description
    assert checks.lookahead_row(strategy, btc).status == "ok"
    assert checks.parity_row(strategy, btc).status in ("ok", "skip")
    if strategy_class(name).target_exposures is not strategy_class("rsi_reversion").target_exposures:
        event, fast = run_event_driven(strategy, btc, CONFIG), run_vectorised(strategy, btc, CONFIG)
        assert event.trades == fast.trades and len(event.trades) > 10


def test_bollinger_enters_below_the_lower_band_and_leaves_above_the_middle(btc):
    strategy = strategy_class("bollinger_reversion")(period=20, width=2.0)
    closes = pd.Series(btc.close)
    middle = closes.rolling(20).mean()
    lower = middle - 2.0 * closes.rolling(20).std(ddof=0)
    trades = run_event_driven(strategy, btc, CONFIG).trades
    assert len(trades) > 20
    for trade in trades:
        decided = trade.entry_index - 1
        assert closes[decided] < lower[decided] * (1 + 1e-9)
        assert not (
            closes[trade.entry_index : trade.exit_index - 1] > middle[trade.entry_index : trade.exit_index - 1]
        ).any()
        if trade.exit_reason == "signal":
            assert closes[trade.exit_index - 1] > middle[trade.exit_index - 1] * (1 - 1e-9)


def test_donchian_breaks_out_above_the_previous_high_and_stops_at_k_atr(btc):
    strategy = strategy_class("donchian_breakout")(entry_period=20, exit_period=10, atr_period=14, atr_stop=2.0)
    frame = pd.DataFrame({"high": btc.high, "low": btc.low, "close": btc.close})
    channel = frame["high"].rolling(20).max().shift(1)
    previous_close = frame["close"].shift(1)
    true_range = pd.concat(
        [frame["high"] - frame["low"], (frame["high"] - previous_close).abs(), (frame["low"] - previous_close).abs()],
        axis=1,
    ).max(axis=1)
    atr = true_range.rolling(14).mean()
    trades = run_event_driven(strategy, btc, CONFIG).trades
    stops = [trade for trade in trades if trade.exit_reason == "stop_loss"]
    assert len(trades) > 10 and stops
    for trade in trades:
        decided = trade.entry_index - 1
        assert frame["close"][decided] > channel[decided]
    for trade in stops:
        stop = frame["close"][trade.entry_index - 1] - 2.0 * atr[trade.entry_index - 1]
        exit_bar = trade.exit_index
        expected = min(btc.open[exit_bar], stop)  # a gap through the stop fills at the open
        assert trade.exit_price == pytest.approx(expected, rel=1e-9)


def test_long_short_goes_both_ways_and_flips_in_one_fill(btc):
    trades = run_event_driven(strategy_class("ema_long_short")(fast=12, slow=48, exposure=0.5), btc, CONFIG).trades
    sides = [trade.side for trade in trades]
    assert "short" in sides and "long" in sides
    assert all(a != b for a, b in zip(sides, sides[1:], strict=False))  # always in the market: each flip alternates
    for before, after in zip(trades, trades[1:], strict=False):
        assert before.exit_index == after.entry_index


def test_resample_and_on_base_match_pandas_and_read_only_closed_higher_bars():
    bars = synthetic_5m()
    hourly = resample(bars, "1h")
    frame = pd.DataFrame(
        {"open": bars.open, "high": bars.high, "low": bars.low, "close": bars.close, "volume": bars.volume},
        index=pd.to_datetime(bars.time_ms, unit="ms", utc=True),
    )
    expected = frame.resample("1h").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    expected = expected.iloc[1:]  # the first hour starts before the history: dropped
    assert hourly.time_ms[0] == expected.index[0].value // 1_000_000
    np.testing.assert_allclose(hourly.close, expected["close"].to_numpy())
    np.testing.assert_allclose(hourly.high, expected["high"].to_numpy())
    np.testing.assert_allclose(hourly.low, expected["low"].to_numpy())

    seen = on_base(bars, hourly, hourly.close)
    for i in range(len(bars)):
        closed_by = bars.time_ms[i] + 300_000  # this 5m bar's close
        complete = np.flatnonzero(hourly.time_ms + 3_600_000 <= closed_by)
        if len(complete) == 0:
            assert np.isnan(seen[i])
        else:
            assert seen[i] == hourly.close[complete[-1]]


def test_macd_trend_on_5m_bars_filters_with_the_closed_1h_trend():
    bars = synthetic_5m(6_000)
    strategy = strategy_class("macd_trend")(trend_period=20)
    assert checks.lookahead_row(strategy, bars).status == "ok"
    event, fast = run_event_driven(strategy, bars, CONFIG), run_vectorised(strategy, bars, CONFIG)
    assert event.trades == fast.trades and len(event.trades) > 5
    indicators = strategy.indicators(bars)
    hourly = (
        pd.Series(bars.close, index=pd.to_datetime(bars.time_ms, unit="ms", utc=True)).resample("1h").last().iloc[1:]
    )
    ema = hourly.ewm(span=20, adjust=False).mean()  # TA-Lib seeds with an SMA: compare once that has faded
    for trade in event.trades:
        decided = trade.entry_index - 1
        assert (
            indicators["histogram"][decided] > 0
            and indicators["trend_close"][decided] > indicators["trend_ema"][decided]
        )
    late = len(bars) - 1
    closed_hour = (bars.time_ms[late] + 300_000) // 3_600_000 * 3_600_000 - 3_600_000
    assert indicators["trend_close"][late] == hourly[pd.Timestamp(closed_hour, unit="ms", tz="UTC")]
    assert indicators["trend_ema"][late] == pytest.approx(ema[pd.Timestamp(closed_hour, unit="ms", tz="UTC")], rel=1e-6)


def test_pairs_legs_mirror_each_other_in_one_account():
    a, b = checks.demo_bars("BTC/USDT", bars=3_000), checks.demo_bars("ETH/USDT", bars=3_000)
    cls = strategy_class("pairs_ratio")
    legs = {a.symbol: cls(lookback=48, entry_z=2.0, exit_z=0.5), b.symbol: cls(lookback=48, entry_z=2.0, exit_z=0.5)}
    legs[a.symbol].provide("peer_close", b.time_ms, b.close)
    legs[b.symbol].provide("peer_close", a.time_ms, a.close)
    z_a = legs[a.symbol].indicators(a)["z"]
    peer = pd.Series(b.close, index=b.time_ms).reindex(a.time_ms)  # by bar time; a bar the peer lacks is NaN
    spread = pd.Series(np.log(a.close) - np.log(peer.to_numpy()))
    rolling = spread.rolling(48)
    independent = ((spread - rolling.mean()) / rolling.std(ddof=0)).to_numpy()
    assert np.isnan(peer.to_numpy()).any()  # the two real series do have different gaps
    np.testing.assert_allclose(z_a[60:], independent[60:], rtol=1e-6, atol=1e-6)

    run = run_shared_cash(strategies=legs, bars_by_symbol={a.symbol: a, b.symbol: b}, config=CONFIG)
    by_entry: dict[int, dict[str, str]] = {}
    for trade, symbol in zip(run.trades, run.trade_symbols, strict=True):
        by_entry.setdefault(trade.entry_index, {})[symbol] = trade.side
    assert len(by_entry) > 10
    for sides in by_entry.values():
        assert sides == {a.symbol: "long", b.symbol: "short"} or sides == {a.symbol: "short", b.symbol: "long"}


def test_ml_signal_turns_predictions_into_the_thresholds_decisions(btc):
    cls = strategy_class("ml_signal")
    strategy = cls(long_above=0.6, flat_below=0.45, short_below=0.3, exposure=1.0)
    p = np.random.default_rng(5).uniform(0, 1, len(btc))
    p[::17] = np.nan  # bars without a prediction hold
    strategy.provide("prediction", btc.time_ms, p)
    event, fast = run_event_driven(strategy, btc, CONFIG), run_vectorised(strategy, btc, CONFIG)
    assert event.trades == fast.trades and {t.side for t in event.trades} == {"long", "short"}
    wanted, held = [], 0.0
    for value in p:
        if value >= 0.6:
            held = 1.0
        elif value < 0.3:
            held = -1.0
        elif value < 0.45:
            held = 0.0
        wanted.append(held)
    changes = [t for t in range(1, len(p) - 1) if wanted[t] != wanted[t - 1] or (t == 0 and wanted[0])]
    entries = sorted({trade.entry_index for trade in event.trades})
    assert set(entries) <= {t + 1 for t in changes}
    with pytest.raises(Exception, match="invalid|flat_below"):
        cls(long_above=0.4, flat_below=0.5)
