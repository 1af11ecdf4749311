"""`manage.py optimize`: the grid, run in batches here or over forked workers, ranks the same trials with
the same metrics as a single backtest of each parameter set."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from dsta.data.backtesting.jobs import json_safe
from dsta.data.backtesting.runner import run_request
from dsta.data.backtesting.trial_batches import split
from dsta.data.contracts import BacktestRequest
from dsta.data.management.commands.load_demo_data import DEMO_DIR
from dsta.data.management.commands.optimize import parse_grid
from dsta.data.models import BacktestJob, BacktestResult
from dsta.data.services import candles_import_file
from dsta.domains import DOMAINS

ALL = [domain.alias for domain in DOMAINS]


@pytest.fixture
def btc_candles():
    candles_import_file(path=DEMO_DIR / "BTC_USDT-1h.csv.gz", exchange="binance", symbol="BTC/USDT", timeframe="1h")


def optimise(*grid: str, **options: object) -> str:
    out = io.StringIO()
    flags = [part for spec in grid for part in ("--grid", spec)]  # repeated, as on the command line
    call_command("optimize", *flags, strategy="sma_cross", symbol="BTC/USDT", timeframe="1h", stdout=out, **options)
    return out.getvalue()


def test_grid_values_include_stop_and_step_exactly():
    assert parse_grid(["fast=5:50:5"]) == {"fast": [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]}
    assert parse_grid(["exposure=0.1:0.3:0.1", "slow=60:70:20"]) == {"exposure": [0.1, 0.2, 0.3], "slow": [60]}
    for bad, message in [
        ("fast", "expected NAME=START:STOP:STEP"),
        ("fast=5:50", "expected NAME=START:STOP:STEP"),
        ("fast=a:50:5", "must be numbers"),
        ("fast=5:50:0", "STEP > 0"),
        ("fast=50:5:5", "STOP >= START"),
        ("fast=1:100000:1", "at most"),
    ]:
        with pytest.raises(CommandError, match=message):
            parse_grid([bad])
    with pytest.raises(CommandError, match="given twice"):
        parse_grid(["fast=5:10:5", "fast=5:10:5"])


def test_batches_cover_every_trial_once_in_order():
    ids = [str(number) for number in range(100)]
    batches = split(ids)
    assert [trial for batch in batches for trial in batch] == ids
    assert len(batches) == 16 and {len(batch) for batch in batches} == {6, 7}
    assert split(ids[:3]) == [["0"], ["1"], ["2"]] and split([]) == []
    assert max(map(len, split([str(n) for n in range(5_000)]))) == 64


@pytest.mark.slow  # loads the compiler (seconds) and forks two workers
@pytest.mark.django_db(databases=ALL, transaction=True)
@pytest.mark.parametrize("workers", [1, 2])
def test_optimize_ranks_trials_whose_metrics_are_their_single_backtests(btc_candles, workers):
    output = optimise("fast=5:20:5", "slow=20:60:20", workers=workers, no_progress=True, top=3)
    parent = BacktestJob.objects.using("data").get(kind=BacktestJob.Kind.OPTIMISATION)
    assert parent.status == "succeeded" and f"{parent.pk}: 11 trials" in output  # (20, 20) is not a trial
    analysis = BacktestResult.objects.using("data").get(job=parent).analysis
    scores = [row["objective"] for row in analysis["trials"]]
    assert len(scores) == 11 and scores == sorted(scores, reverse=True)
    lines = output.splitlines()
    assert lines[1].split() == ["rank", "fast", "slow", "sharpe", "return", "%", "max", "dd", "%", "trades"]
    best = analysis["trials"][0]
    assert lines[2].split()[:3] == ["1", str(best["params"]["fast"]), str(best["params"]["slow"])]
    assert len(lines) == 6 and lines[-1].startswith(f"best: {best['params']}")
    for trial in BacktestJob.objects.using("data").filter(parent=parent).select_related("result"):
        single = run_request(
            BacktestRequest(
                strategy="sma_cross", params=trial.params, exchange="binance", symbol="BTC/USDT", timeframe="1h"
            )
        )
        assert trial.status == "succeeded" and trial.engine_used == "vectorised"
        assert trial.result.metrics == json_safe(single.metrics.as_dict())


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_optimize_rejects_bad_input_with_a_message(btc_candles):
    with pytest.raises(CommandError, match="params.fast"):
        optimise("fast=0:4:2", no_progress=True)
    with pytest.raises(CommandError, match="--workers"):
        optimise("fast=5:10:5", workers=0, no_progress=True)
    with pytest.raises(CommandError, match="timeframe"):
        call_command(
            "optimize",
            "--grid",
            "fast=5:10:5",
            strategy="sma_cross",
            symbol="BTC/USDT",
            timeframe="7x",
            no_progress=True,
        )
    assert not BacktestJob.objects.using("data").exists()
