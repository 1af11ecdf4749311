"""Users' own strategies: files on DSTA_STRATEGY_PATHS and packages with a `dsta.strategies` entry point,
loaded through the one registry; broken ones named with file and line; the `strategy` CLI; a misbehaving
strategy failing its backtest with a clear message."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from dsta.data.backtesting.engine import BacktestConfig, run_event_driven
from dsta.data.backtesting.strategy_checks import demo_bars
from dsta.data.contracts import BacktestRequest, StrategyFault
from dsta.data.management.commands.load_demo_data import DEMO_DIR
from dsta.data.services import candles_import_file
from dsta.data.strategies.registry import strategy_class, strategy_entry, strategy_problems, strategy_registry
from dsta.domains import DOMAINS

ALL = [domain.alias for domain in DOMAINS]
ROOT = Path(__file__).resolve().parents[3]

# A channel rule (event path only, so the engine's bar loop runs it): long when the close is above the
# highest close of the previous `period` bars, flat when below the lowest.
CHANNEL = '''
from dsta.sdk import HOLD, Decision, Parameter, Strategy, highest, lowest, previous


class Channel(Strategy):
    """Close-channel breakout, written by a user."""

    name = "user_channel"
    parameters = (Parameter("period", int, 24, 2, 500, "channel bars"),)

    def warmup(self):
        return int(self.params["period"])

    def indicators(self, bars):
        n = int(self.params["period"])
        return {"top": previous(highest(bars.close, n)), "bottom": previous(lowest(bars.close, n))}

    def decide(self, context):
        i = context.index
        close = context.bars.close[i]
        if close > context.series["top"][i]:
            return Decision(target=1.0)
        if close < context.series["bottom"][i]:
            return Decision(target=0.0)
        return HOLD
'''


def write(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture
def strategy_dir(tmp_path, monkeypatch):
    directory = tmp_path / "my_strategies"
    directory.mkdir()
    monkeypatch.setenv("DSTA_STRATEGY_PATHS", os.pathsep.join([str(directory), str(tmp_path / "absent")]))
    return directory


@pytest.fixture
def btc_candles():
    candles_import_file(path=DEMO_DIR / "BTC_USDT-1h.csv.gz", exchange="binance", symbol="BTC/USDT", timeframe="1h")


def independent_channel_trades(period: int) -> list[tuple[pd.Timestamp, pd.Timestamp, float, float]]:
    """The same rule computed with pandas alone: decide at a close, fill at the next open, settle the last
    position at the final close."""
    frame = pd.read_csv(DEMO_DIR / "BTC_USDT-1h.csv.gz")
    frame["time"] = pd.to_datetime(frame["timestamp"], unit="ms", utc=True)
    top = frame["close"].rolling(period).max().shift(1)
    bottom = frame["close"].rolling(period).min().shift(1)
    trades, holding, entry = [], False, None
    for t in range(period, len(frame)):
        close = frame["close"].iat[t]
        wanted = True if close > top.iat[t] else (False if close < bottom.iat[t] else holding)
        if wanted != holding and t + 1 < len(frame):
            if wanted:
                entry = (frame["time"].iat[t + 1], frame["open"].iat[t + 1])
            else:
                trades.append((entry[0], frame["time"].iat[t + 1], entry[1], frame["open"].iat[t + 1]))
            holding = wanted
    if holding:
        trades.append((entry[0], frame["time"].iat[-1], entry[1], frame["close"].iat[-1]))
    return trades


@pytest.mark.django_db(databases=ALL)
def test_a_strategy_file_in_a_temporary_directory_backtests_like_an_independent_computation(strategy_dir, btc_candles):
    from dsta.data import api

    path = write(strategy_dir, "channel.py", CHANNEL)
    spec = {s.name: s for s in api.strategies_list()}["user_channel"]
    expected_version = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert (spec.source, spec.origin, spec.version, spec.vectorised) == ("file", str(path), expected_version, False)

    summary = api.backtest_run(
        request=BacktestRequest(
            strategy="user_channel",
            params={"period": 24},
            exchange="binance",
            symbol="BTC/USDT",
            timeframe="1h",
            commission=0,
        )
    )
    assert summary.status == "succeeded", summary.error
    assert summary.strategy_version == expected_version and summary.engine_used == "event"
    trades = api.backtest_trades(job_id=summary.job_id)
    expected = independent_channel_trades(24)
    assert len(trades) == len(expected) > 50
    for trade, (entry_time, exit_time, entry_price, exit_price) in zip(trades, expected, strict=True):
        assert (trade.entry_time, trade.exit_time) == (entry_time.to_pydatetime(), exit_time.to_pydatetime())
        assert float(trade.entry_price) == pytest.approx(entry_price, rel=1e-12)
        assert float(trade.exit_price) == pytest.approx(exit_price, rel=1e-12)

    # Editing the file changes its version: the next result records the new code.
    path.write_text(path.read_text() + "\n# tuned\n")
    assert strategy_entry("user_channel").version == hashlib.sha256(path.read_bytes()).hexdigest()[:12]


BROKEN = {
    "syntax.py": ("def oops(:\n    pass\n", 1, "syntax error"),
    "imports.py": ("import os\nimport a_module_nobody_installed\n", 2, "ModuleNotFoundError"),
    "missing.py": (
        "from dsta.sdk import Strategy\n\n\nclass Half(Strategy):\n    name = 'half'\n\n"
        "    def indicators(self, bars):\n        return {}\n",
        4,
        "missing method(s) decide",
    ),
    "params.py": (
        "from dsta.sdk import HOLD, Parameter, Strategy\n\n\nclass Bad(Strategy):\n    name = 'bad_params'\n"
        "    parameters = (Parameter('n', int, 500, 2, 100),)\n\n    def indicators(self, bars):\n"
        "        return {}\n\n    def decide(self, context):\n        return HOLD\n",
        4,
        "bad parameter spec: n: needs minimum <= default <= maximum",
    ),
    "twin.py": (
        "from dsta.sdk import HOLD, Strategy\n\n\nclass Twin(Strategy):\n    name = 'sma_cross'\n\n"
        "    def indicators(self, bars):\n        return {}\n\n    def decide(self, context):\n        return HOLD\n",
        4,
        "duplicate strategy name 'sma_cross'",
    ),
}


@pytest.mark.django_db(databases=ALL)
def test_broken_files_are_named_with_file_line_and_reason_and_never_stop_the_others(
    strategy_dir, client, django_user_model
):
    write(strategy_dir, "channel.py", CHANNEL)
    for name, (source, _line, _reason) in BROKEN.items():
        write(strategy_dir, name, source)

    problems = {Path(p.origin).name: p for p in strategy_problems()}
    assert set(problems) == set(BROKEN)
    for name, (_source, line, reason) in BROKEN.items():
        assert problems[name].origin == str((strategy_dir / name).resolve())
        assert problems[name].line == line, name
        assert reason in problems[name].reason, problems[name]
    assert strategy_class("user_channel").name == "user_channel"  # the good file loaded regardless
    assert strategy_entry("sma_cross").source == "builtin"  # a duplicate never replaces the original

    out = io.StringIO()
    call_command("strategy", "list", stdout=out)
    lines = out.getvalue().splitlines()
    assert any(
        line.startswith("user_channel ") and line.endswith(f"file:{strategy_dir / 'channel.py'}") for line in lines
    )
    assert f"BROKEN {(strategy_dir / 'imports.py').resolve()}:2: ModuleNotFoundError" in out.getvalue()

    client.force_login(django_user_model.objects.create_superuser("quant", password="x" * 12))
    body = client.get("/api/v1/backtest/strategies").json()
    assert "user_channel" in {s["name"] for s in body["strategies"]}
    reported = {Path(p["origin"]).name: p for p in body["problems"]}
    assert reported["syntax.py"]["line"] == 1 and "syntax error" in reported["syntax.py"]["reason"]


def test_a_strategy_package_installed_in_a_temporary_site_directory_is_found(tmp_path, monkeypatch):
    monkeypatch.setenv("DSTA_STRATEGY_PATHS", str(tmp_path / "none"))
    site = tmp_path / "site"
    package = site / "acme_strategies"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        CHANNEL.replace('name = "user_channel"', 'name = "acme_channel"').replace("class Channel", "class AcmeChannel")
    )
    info = site / "acme_strategies-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-strategies\nVersion: 1.2\n")
    (info / "entry_points.txt").write_text("[dsta.strategies]\nacme = acme_strategies\n")
    (info / "RECORD").write_text("")
    monkeypatch.syspath_prepend(str(site))

    entry = strategy_entry("acme_channel")
    assert entry.source == "package" and entry.origin == str(package / "__init__.py")
    assert entry.version == hashlib.sha256((package / "__init__.py").read_bytes()).hexdigest()[:12]
    assert entry.cls.__name__ == "AcmeChannel"


def test_strategy_new_writes_a_skeleton_that_passes_its_own_check(strategy_dir):
    out = io.StringIO()
    call_command("strategy", "new", "my_first", stdout=out)
    path = strategy_dir / "my_first.py"
    assert path.is_file() and "from dsta.sdk import" in path.read_text()
    with pytest.raises(CommandError, match="exists"):
        call_command("strategy", "new", "my_first")
    call_command("strategy", "new", "my_first", "--exist-ok", stdout=io.StringIO())

    show = io.StringIO()
    call_command("strategy", "show", "my_first", stdout=show)
    assert "vectorised (fast path): yes" in show.getvalue() and "period" in show.getvalue()

    check = io.StringIO()
    call_command("strategy", "check", "my_first", stdout=check)
    table = check.getvalue()
    for row in ("lookahead", "recursive", "fast vs event path", "backtest"):
        assert any(line.split()[: len(row.split())] == row.split() and " OK " in line for line in table.splitlines()), (
            table
        )


def test_strategy_check_of_a_broken_file_exits_non_zero_naming_the_file(strategy_dir):
    broken = write(strategy_dir, "half.py", BROKEN["missing.py"][0])
    env = {**os.environ, "DSTA_STRATEGY_PATHS": str(strategy_dir)}
    result = subprocess.run(
        [sys.executable, "manage.py", "strategy", "check", str(broken)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert f"{broken.resolve()}:4: Half: missing method(s) decide" in result.stderr
    assert "Traceback" not in result.stderr


def test_strategy_check_fails_a_strategy_that_looks_ahead(strategy_dir):
    cheat = write(
        strategy_dir,
        "cheat.py",
        """
        import numpy as np
        from dsta.sdk import Decision, Strategy


        class Cheat(Strategy):
            name = "cheat"

            def indicators(self, bars):
                return {"next_close": np.append(bars.close[1:], np.nan)}

            def decide(self, context):
                i = context.index
                return Decision(target=1.0 if context.series["next_close"][i] > context.bars.close[i] else 0.0)
        """,
    )
    out = io.StringIO()
    with pytest.raises(CommandError, match="a check failed"):
        call_command("strategy", "check", str(cheat), "--bars", "400", stdout=out)
    assert any(line.split()[:2] == ["lookahead", "FAIL"] for line in out.getvalue().splitlines()), out.getvalue()


MISBEHAVING = """
import time
from dsta.sdk import HOLD, Decision, Strategy


class Misbehaving(Strategy):
    name = "misbehaving"
    mode = "{mode}"

    def indicators(self, bars):
        return {{}}

    def decide(self, context):
        if context.index < 57:
            return HOLD
        if self.mode == "raise":
            return 1 / 0
        if self.mode == "slow":
            time.sleep(0.05)
            return HOLD
        return Decision(target={target})
"""


@pytest.mark.parametrize(
    ("mode", "target", "message"),
    [
        ("raise", "None", "decide() raised ZeroDivisionError: division by zero"),
        ("range", "1.5", "target 1.5 is outside [-1, 1]"),
        ("nan", "float('nan')", "target is NaN"),
        ("slow", "None", "over the limit of 0.02 s per bar"),
    ],
)
def test_a_misbehaving_strategy_fails_the_run_naming_strategy_file_and_bar(strategy_dir, mode, target, message):
    path = write(strategy_dir, "misbehaving.py", MISBEHAVING.format(mode=mode, target=target))
    bars = demo_bars(bars=200)
    strategy = strategy_class("misbehaving")()
    with pytest.raises(StrategyFault) as caught:
        run_event_driven(strategy, bars, BacktestConfig(max_seconds_per_bar=0.02 if mode == "slow" else None))
    text = str(caught.value)
    moment = pd.Timestamp(int(bars.time_ms[57]), unit="ms", tz="UTC")
    assert text.startswith(
        f"strategy 'misbehaving' ({path.resolve()}) at bar 57 (BTC/USDT 1h {moment:%Y-%m-%d %H:%M} UTC)"
    )
    assert message in text and caught.value.bar == 57


@pytest.mark.django_db(databases=ALL)
def test_a_misbehaving_strategy_gets_a_400_from_the_api_with_the_message(
    strategy_dir, btc_candles, client, django_user_model
):
    path = write(strategy_dir, "misbehaving.py", MISBEHAVING.format(mode="range", target="-3"))
    client.force_login(django_user_model.objects.create_superuser("quant", password="x" * 12))
    response = client.post(
        "/api/v1/backtest/run",
        {"strategy": "misbehaving", "params": {}, "symbol": "BTC/USDT", "timeframe": "1h", "wait": True},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert (
        str(path.resolve()) in response.json()["strategy"]
        and "target -3 is outside [-1, 1]" in response.json()["strategy"]
    )


def test_the_registry_is_one_per_process_state_and_rebuilt_only_on_change(strategy_dir):
    write(strategy_dir, "channel.py", CHANNEL)
    first = strategy_registry()
    assert strategy_registry() is first  # unchanged files: the same registry, no re-import
    write(strategy_dir, "another.py", CHANNEL.replace("user_channel", "user_channel_2"))
    assert {"user_channel", "user_channel_2"} <= set(strategy_registry().entries)


def test_input_series_align_by_bar_time_and_never_borrow_a_neighbour():
    strategy = strategy_class("ml_signal")()
    bars = demo_bars(bars=10)
    times = bars.time_ms[[0, 2, 3]]
    strategy.provide("prediction", times[::-1], np.array([0.9, 0.8, 0.7]))  # any order
    aligned = strategy.input_series("prediction", bars)
    assert aligned[0] == 0.7 and aligned[2] == 0.8 and aligned[3] == 0.9
    assert np.isnan(aligned[1]) and np.isnan(aligned[4:]).all()


@pytest.mark.slow
@pytest.mark.django_db(databases=ALL)
def test_a_file_strategy_runs_everywhere_a_builtin_does(
    strategy_dir, btc_candles, client, django_user_model, clean_broker
):
    from dsta.data.backtesting import jobs
    from dsta.data.models import BacktestJob

    path = write(strategy_dir, "channel.py", CHANNEL)
    version = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    out = io.StringIO()
    call_command(
        "backtest",
        "--strategy",
        "user_channel",
        "--symbol",
        "BTC/USDT",
        "--timeframe",
        "1h",
        "--param",
        "period=48",
        "--no-progress",
        stdout=out,
    )
    assert "trades" in out.getvalue()
    assert BacktestJob.objects.using("data").filter(strategy="user_channel", strategy_version=version).exists()

    client.force_login(django_user_model.objects.create_superuser("quant", password="x" * 12))
    window = {"strategy": "user_channel", "params": {}, "symbol": "BTC/USDT", "timeframe": "1h"}
    walk = client.post(
        "/api/v1/backtest/walk-forward",
        {**window, "space": {"period": [24, 48]}, "in_sample_bars": 2_000, "out_of_sample_bars": 1_000},
        content_type="application/json",
    )
    assert walk.status_code == 200, walk.content
    assert walk.json()["strategy"] == "user_channel" and len(walk.json()["windows"]) >= 5

    run = client.post("/api/v1/backtest/run", {**window, "wait": True}, content_type="application/json").json()
    monte = client.post(
        "/api/v1/backtest/monte-carlo",
        {"job_id": run["job_id"], "method": "trade_shuffle", "simulations": 200},
        content_type="application/json",
    )
    assert monte.status_code == 200 and monte.json()["simulations"] == 200
    assert run["strategy_version"] == version

    page = client.post(
        "/backtests/",
        {
            "strategy": "user_channel",
            "series": "binance|BTC/USDT|1h",
            "params": "period=30",
            "initial_cash": "10000",
            "commission": "0.001",
        },
    )
    assert page.status_code == 302, page.content.decode()[:2000]
    job = BacktestJob.objects.using("data").filter(strategy="user_channel", params={"period": 30}).get()
    jobs.job_execute(str(job.pk))  # the worker's part, here
    job.refresh_from_db()
    assert job.status == "succeeded" and job.strategy_version == version
