"""Analyses on top of the engines: Monte Carlo, parameter grids, walk-forward, lookahead and data-snooping
checks. Pure computation on bars and results; jobs.py and optimisation.py persist and distribute them."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from dsta.data.backtesting.accounting import TradeRecord
from dsta.data.backtesting.engine import BacktestConfig, EngineResult
from dsta.data.backtesting.metrics import compute_metrics
from dsta.data.bars import Bars
from dsta.data.strategies.base import Strategy

PERCENTILES = (5, 25, 50, 75, 95)
EULER_GAMMA = 0.5772156649015329
RunEngine = Callable[[Strategy, Bars, BacktestConfig], EngineResult]


# --- Monte Carlo --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonteCarloResult:
    method: str
    simulations: int
    final_equity: dict[int, float]  # percentile -> value
    max_drawdown_pct: dict[int, float]
    probability_of_loss: float


def trade_factors(equity: np.ndarray, trades: Sequence[TradeRecord], initial_cash: float) -> np.ndarray:
    """Each trade's growth factor of the account: equity after it over equity before it."""
    factors = []
    for trade in trades:
        before = float(equity[trade.entry_index - 1]) if trade.entry_index > 0 else initial_cash
        factors.append((before + trade.pnl) / before)
    return np.array(factors)


def _summarise(method: str, finals: np.ndarray, drawdowns: np.ndarray, start: float) -> MonteCarloResult:
    return MonteCarloResult(
        method=method,
        simulations=len(finals),
        final_equity={p: float(np.percentile(finals, p)) for p in PERCENTILES},
        max_drawdown_pct={p: float(np.percentile(drawdowns, p)) * 100 for p in PERCENTILES},
        probability_of_loss=float((finals < start).mean()),
    )


def _row_drawdowns(paths: np.ndarray) -> np.ndarray:
    drawdowns: np.ndarray = (paths / np.maximum.accumulate(paths, axis=1) - 1).min(axis=1)
    return drawdowns


def monte_carlo_trades(
    factors: np.ndarray, *, initial_cash: float, simulations: int = 1_000, seed: int = 0, with_replacement: bool = False
) -> MonteCarloResult:
    """Reshuffle (or resample, with replacement) the order of trades. Shuffling keeps the final equity and
    shows how deep the drawdowns could have been in another order; resampling varies both."""
    if len(factors) == 0:
        raise ValueError("no trades to resample")
    generator = np.random.default_rng(seed)
    if with_replacement:
        draws = generator.choice(factors, size=(simulations, len(factors)), replace=True)
    else:
        draws = np.array([generator.permutation(factors) for _ in range(simulations)])
    paths = initial_cash * np.cumprod(np.column_stack([np.ones(simulations), draws]), axis=1)
    method = "trade_resample" if with_replacement else "trade_shuffle"
    return _summarise(method, paths[:, -1], _row_drawdowns(paths), initial_cash)


def monte_carlo_returns(
    equity: np.ndarray, *, simulations: int = 1_000, block: int = 24, seed: int = 0, chunk: int = 100
) -> MonteCarloResult:
    """Stationary block bootstrap of per-bar returns (blocks keep volatility clusters together)."""
    returns = equity[1:] / equity[:-1]
    count = len(returns)
    if count < 2:
        raise ValueError("need at least three equity points")
    generator = np.random.default_rng(seed)
    finals, drawdowns = [], []
    blocks_per_path = -(-count // block)
    for start in range(0, simulations, chunk):
        rows = min(chunk, simulations - start)
        starts = generator.integers(0, count - block + 1 if count > block else 1, size=(rows, blocks_per_path))
        indices = (starts[:, :, None] + np.arange(min(block, count))[None, None, :]).reshape(rows, -1)[:, :count]
        paths = equity[0] * np.cumprod(returns[indices], axis=1)
        paths = np.column_stack([np.full(rows, equity[0]), paths])
        finals.append(paths[:, -1])
        drawdowns.append(_row_drawdowns(paths))
    return _summarise("return_bootstrap", np.concatenate(finals), np.concatenate(drawdowns), float(equity[0]))


# --- Parameter grids and data snooping ----------------------------------------------------------------


def grid(space: dict[str, Sequence[float]]) -> list[dict[str, float]]:
    names = sorted(space)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(space[n] for n in names))]


def per_bar_sharpe(equity: np.ndarray) -> float:
    returns = equity[1:] / equity[:-1] - 1
    std = returns.std(ddof=1)
    return float(returns.mean() / std) if std > 0 else 0.0


@dataclass(frozen=True)
class SnoopingCheck:
    trials: int
    best_sharpe_per_bar: float
    expected_max_sharpe_per_bar: float  # what the best of `trials` skill-less tries would reach
    deflated_sharpe: float  # probability that the best Sharpe is above that, given skew and kurtosis
    warning: str


def deflated_sharpe(best_returns: np.ndarray, trial_sharpes: Sequence[float]) -> SnoopingCheck:
    """Bailey & Lopez de Prado's deflated Sharpe ratio for the best of several trials (per-bar units)."""
    trials = len(trial_sharpes)
    normal = NormalDist()
    best = per_bar_sharpe(np.concatenate(([1.0], np.cumprod(1 + best_returns))))
    variance = float(np.var(trial_sharpes, ddof=1)) if trials > 1 else 0.0
    expected_max = (
        math.sqrt(variance)
        * ((1 - EULER_GAMMA) * normal.inv_cdf(1 - 1 / trials) + EULER_GAMMA * normal.inv_cdf(1 - 1 / (trials * math.e)))
        if trials > 1
        else 0.0
    )
    observations = len(best_returns)
    centred = best_returns - best_returns.mean()
    std = best_returns.std()
    skew = float((centred**3).mean() / std**3) if std > 0 else 0.0
    kurtosis = float((centred**4).mean() / std**4) if std > 0 else 3.0
    denominator = math.sqrt(max(1e-12, 1 - skew * best + (kurtosis - 1) / 4 * best**2))
    probability = normal.cdf((best - expected_max) * math.sqrt(max(observations - 1, 1)) / denominator)
    warning = (
        ""
        if probability >= 0.95
        else (
            f"after {trials} trials the best Sharpe is not reliably above luck"
            f" (deflated Sharpe {probability:.2f} < 0.95): treat the optimum as likely overfitted"
        )
    )
    return SnoopingCheck(trials, best, expected_max, probability, warning)


# --- Walk-forward -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WalkForwardWindow:
    in_sample: tuple[int, int]  # bar index range [start, end)
    out_of_sample: tuple[int, int]
    best_params: dict[str, float]
    in_sample_score: float
    out_of_sample_return_pct: float


@dataclass(frozen=True)
class WalkForwardResult:
    windows: list[WalkForwardWindow]
    stitched_equity: np.ndarray  # out-of-sample equity, chained window after window
    stitched_times: np.ndarray
    out_of_sample_return_pct: float


def walk_forward(
    *,
    build: Callable[[dict[str, float]], Strategy],
    space: dict[str, Sequence[float]],
    bars: Bars,
    config: BacktestConfig,
    run: RunEngine,
    in_sample_bars: int,
    out_of_sample_bars: int,
    timeframe_seconds: int,
    objective: str = "sharpe",
) -> WalkForwardResult:
    """Optimise on each in-sample window, trade the winner on the following out-of-sample window (after
    a warm-up taken from the in-sample bars, never from the future), and chain the OOS equity curves."""
    candidates = grid(space)
    windows: list[WalkForwardWindow] = []
    stitched: list[np.ndarray] = []
    times: list[np.ndarray] = []
    capital = config.initial_cash
    start = 0
    while start + in_sample_bars + out_of_sample_bars <= len(bars):
        is_end, oos_end = start + in_sample_bars, start + in_sample_bars + out_of_sample_bars
        in_sample = _slice(bars, start, is_end)
        scored = []
        for params in candidates:
            strategy = build(params)
            result = run(strategy, in_sample, config)
            metrics = compute_metrics(
                equity=result.equity, closes=in_sample.close, trades=result.trades, timeframe_seconds=timeframe_seconds
            )
            scored.append((getattr(metrics, objective), params))
        score, best = max(scored, key=lambda item: item[0] if math.isfinite(item[0]) else -math.inf)
        strategy = build(best)
        warmup = min(strategy.warmup(), is_end)
        window_bars = _slice(bars, is_end - warmup, oos_end)
        # Trading starts at the OOS boundary: the warm-up bars only feed the indicators.
        window_config = BacktestConfig(
            initial_cash=capital,
            commission=config.commission,
            slippage=config.slippage,
            fill_at=config.fill_at,
            trade_from=warmup,
        )
        result = run(strategy, window_bars, window_config)
        oos_equity = result.equity[warmup:]
        windows.append(
            WalkForwardWindow(
                (start, is_end), (is_end, oos_end), best, float(score), (float(oos_equity[-1]) / capital - 1) * 100
            )
        )
        stitched.append(oos_equity)
        times.append(window_bars.time_ms[warmup:])
        capital = float(oos_equity[-1])
        start += out_of_sample_bars
    if not windows:
        raise ValueError("not enough bars for one in-sample plus one out-of-sample window")
    equity = np.concatenate(stitched)
    return WalkForwardResult(
        windows, equity, np.concatenate(times), (float(equity[-1]) / config.initial_cash - 1) * 100
    )


def _slice(bars: Bars, start: int, end: int) -> Bars:
    return Bars(
        bars.symbol,
        bars.timeframe,
        bars.time_ms[start:end],
        bars.open[start:end],
        bars.high[start:end],
        bars.low[start:end],
        bars.close[start:end],
        bars.volume[start:end],
    )


# --- Lookahead bias -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LookaheadReport:
    checked_points: int
    biased_indicators: list[str]  # indicators whose past values change when the future is cut off
    decisions_changed: int  # decisions that differ when made without the future

    @property
    def has_bias(self) -> bool:
        return bool(self.biased_indicators) or self.decisions_changed > 0


def detect_lookahead(
    strategy: Strategy, bars: Bars, *, points: Iterable[int] | None = None, samples: int = 40, seed: int = 0
) -> LookaheadReport:
    """Recompute indicators and decisions on data truncated at each checked bar and compare with the
    full-data run: a causal strategy gives identical values for every bar up to the cut."""
    from dsta.data.strategies.base import BarContext

    full = strategy.indicators(bars)
    warmup = strategy.warmup()
    if points is None:
        candidates = np.arange(warmup + 1, len(bars) - 1)
        generator = np.random.default_rng(seed)
        points = sorted(generator.choice(candidates, size=min(samples, len(candidates)), replace=False).tolist())
    biased: set[str] = set()
    changed = 0
    checked = 0
    for cut in points:
        truncated = bars.head(cut + 1)
        partial = strategy.indicators(truncated)
        for name, values in partial.items():
            if not np.allclose(values, full[name][: cut + 1], rtol=1e-9, atol=1e-12, equal_nan=True):
                biased.add(name)
        full_context = BarContext(
            bars=bars, indicators=full, index=cut, series={n: v.tolist() for n, v in full.items()}
        )
        cut_context = BarContext(
            bars=truncated, indicators=partial, index=cut, series={n: v.tolist() for n, v in partial.items()}
        )
        if strategy.decide(full_context) != strategy.decide(cut_context):
            changed += 1
        checked += 1
    return LookaheadReport(checked, sorted(biased), changed)
