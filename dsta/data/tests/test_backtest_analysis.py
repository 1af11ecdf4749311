"""Monte Carlo, grids, deflated Sharpe, walk-forward and lookahead detection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsta.data.backtesting.analysis import (
    deflated_sharpe,
    detect_lookahead,
    grid,
    monte_carlo_returns,
    monte_carlo_trades,
    trade_factors,
    walk_forward,
)
from dsta.data.backtesting.engine import BacktestConfig, run_event_driven
from dsta.data.backtesting.vectorized import run_vectorised
from dsta.data.bars import Bars
from dsta.data.strategies.base import BarContext, Decision, Strategy
from dsta.data.strategies.builtin import SmaCross

DEMO = Path(__file__).resolve().parents[1] / "demo"


@pytest.fixture(scope="module")
def btc():
    return Bars.from_csv(DEMO / "BTC_USDT-1h.csv.gz", symbol="BTC/USDT", timeframe="1h")


@pytest.fixture(scope="module")
def sma_run(btc):
    return run_vectorised(SmaCross(fast=24, slow=96), btc, BacktestConfig())


def test_trade_factors_rebuild_the_final_equity(sma_run):
    factors = trade_factors(sma_run.equity, sma_run.trades, 10_000)
    assert 10_000 * np.prod(factors) == pytest.approx(sma_run.equity[-1], rel=1e-9)


def test_shuffling_trades_keeps_final_equity_and_spreads_drawdowns(sma_run):
    factors = trade_factors(sma_run.equity, sma_run.trades, 10_000)
    result = monte_carlo_trades(factors, initial_cash=10_000, simulations=500, seed=1)
    assert set(np.round(list(result.final_equity.values()), 6)) == {round(float(sma_run.equity[-1]), 6)}
    assert result.max_drawdown_pct[5] < result.max_drawdown_pct[95] <= 0
    assert result == monte_carlo_trades(factors, initial_cash=10_000, simulations=500, seed=1)  # seeded
    resampled = monte_carlo_trades(factors, initial_cash=10_000, simulations=500, seed=1, with_replacement=True)
    assert resampled.final_equity[5] < resampled.final_equity[95]
    assert 0 <= resampled.probability_of_loss <= 1


def test_return_bootstrap_of_a_steady_curve_has_no_spread():
    equity = 100 * 1.001 ** np.arange(500)
    result = monte_carlo_returns(equity, simulations=200, block=10, seed=3)
    assert result.final_equity[5] == pytest.approx(result.final_equity[95]) == pytest.approx(equity[-1])
    assert result.max_drawdown_pct[50] == pytest.approx(0.0)


def test_return_bootstrap_spreads_a_noisy_curve(sma_run):
    result = monte_carlo_returns(sma_run.equity, simulations=300, block=24, seed=5)
    assert result.final_equity[5] < result.final_equity[50] < result.final_equity[95]
    assert result.max_drawdown_pct[5] < result.max_drawdown_pct[95]


def test_grid_is_the_cartesian_product():
    combos = grid({"fast": [5, 10], "slow": [20, 50, 100]})
    assert len(combos) == 6 and {"fast": 10, "slow": 50} in combos


def test_deflated_sharpe_flags_the_best_of_many_noise_trials_and_passes_real_skill():
    generator = np.random.default_rng(7)
    noise = generator.normal(0, 0.01, size=(200, 2_000))
    sharpes = [float(row.mean() / row.std(ddof=1)) for row in noise]
    best = noise[int(np.argmax(sharpes))]
    luck = deflated_sharpe(best, sharpes)
    assert luck.deflated_sharpe < 0.95 and luck.warning
    skill = generator.normal(0.004, 0.01, size=2_000)
    few_sharpes = [float(skill.mean() / skill.std(ddof=1)), 0.01, -0.02, 0.0]
    real = deflated_sharpe(skill, few_sharpes)
    assert real.deflated_sharpe > 0.95 and not real.warning


def test_walk_forward_trades_only_out_of_sample_and_chains_capital(btc):
    config = BacktestConfig(commission=0.001)
    result = walk_forward(
        build=lambda params: SmaCross(**params),
        space={"fast": [12, 24], "slow": [48, 96]},
        bars=btc,
        config=config,
        run=run_vectorised,
        in_sample_bars=2_000,
        out_of_sample_bars=1_000,
        timeframe_seconds=3600,
    )
    expected_windows = (len(btc) - 2_000) // 1_000
    assert len(result.windows) == expected_windows
    assert len(result.stitched_equity) == expected_windows * 1_000
    assert result.stitched_equity[0] == pytest.approx(10_000)
    assert np.all(np.diff(result.stitched_times) > 0)
    # The second window starts with the capital the first one ended with.
    assert result.stitched_equity[1_000 - 1] == pytest.approx(
        10_000 * (1 + result.windows[0].out_of_sample_return_pct / 100)
    )
    first = result.windows[0]
    assert first.out_of_sample[0] == first.in_sample[1] == 2_000


def test_walk_forward_event_and_fast_engines_agree(btc):
    kwargs = dict(
        build=lambda params: SmaCross(**params),
        space={"fast": [10, 20], "slow": [50]},
        bars=btc,
        config=BacktestConfig(),
        in_sample_bars=3_000,
        out_of_sample_bars=1_500,
        timeframe_seconds=3600,
    )
    fast, event = walk_forward(run=run_vectorised, **kwargs), walk_forward(run=run_event_driven, **kwargs)
    assert fast.windows == event.windows
    assert np.array_equal(fast.stitched_equity, event.stitched_equity)


class Peeking(Strategy):
    """Cheats: a centred moving average uses the next bars."""

    name = "peeking"

    def warmup(self):
        return 5

    def indicators(self, bars):
        close = bars.close
        centred = np.convolve(close, np.ones(5) / 5, mode="same")
        return {"centred_ma": centred, "close": close.copy()}

    def decide(self, context: BarContext) -> Decision:
        ma = context.series["centred_ma"][context.index]
        return Decision(target=1.0) if context.series["close"][context.index] > ma else Decision(target=0.0)


def test_lookahead_check_flags_a_peeking_indicator_and_clears_a_causal_one(btc):
    cheat = detect_lookahead(Peeking(), btc, samples=20)
    assert cheat.has_bias and cheat.biased_indicators == ["centred_ma"]
    clean = detect_lookahead(SmaCross(fast=10, slow=20), btc, samples=20)
    assert not clean.has_bias and clean.checked_points == 20
