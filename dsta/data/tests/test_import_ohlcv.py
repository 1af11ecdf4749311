"""`manage.py import_ohlcv`: COPY-based, idempotent, and loud about bad files."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from dsta.data import api as data
from dsta.data.contracts import CandleBar
from dsta.data.management.commands.load_demo_data import DEMO_DIR
from dsta.data.services import candles_upsert

pytestmark = pytest.mark.django_db(databases=["data"])
HEADER = "timestamp,open,high,low,close,volume\n"


def write_csv(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text(header + "".join(row + "\n" for row in rows))
    return path


def import_file(path: Path, **options) -> str:
    from io import StringIO

    out = StringIO()
    call_command(
        "import_ohlcv",
        str(path),
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
        no_progress=True,
        stdout=out,
        **options,
    )
    return out.getvalue()


def test_imports_the_shipped_real_file_exactly():
    path = DEMO_DIR / "BTC_USDT-1h.csv.gz"
    with gzip.open(path, "rt") as handle:
        lines = handle.read().splitlines()[1:]
    assert "read 12556, inserted 12556, updated 0" in import_file(path)
    bars = data.candles_get(exchange="binance", symbol="BTC/USDT", timeframe="1h")
    assert len(bars) == len(lines) == 12556
    first = lines[0].split(",")
    assert (bars[0].open, bars[0].high, bars[0].low, bars[0].close, bars[0].volume) == tuple(map(Decimal, first[1:]))
    assert int(bars[0].open_time.timestamp() * 1000) == int(first[0])
    assert "read 12556, inserted 0, updated 0" in import_file(path)  # idempotent


def test_reimport_replaces_changed_rows_only(tmp_path):
    rows = [
        "1726272000000,60497.99,60610.45,60372.77,60414.39,753.37252",
        "1726275600000,60414.39,60595.7,60406.06,60406.06,590.92967",
    ]
    import_file(write_csv(tmp_path / "a.csv", rows))
    rows[1] = "1726275600000,60414.39,60595.7,60406.06,60500.00,600"
    assert "read 2, inserted 0, updated 1" in import_file(write_csv(tmp_path / "b.csv", rows))
    bars = data.candles_get(exchange="binance", symbol="BTC/USDT", timeframe="1h")
    assert [bar.close for bar in bars] == [Decimal("60414.39"), Decimal("60500.00")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("time,o,h,l,c,v\n1,2,3,4,5,6\n", "header is"),
        (HEADER + "1726272000000,1,2,0.5,1.5,abc\n", "invalid input syntax"),
        (HEADER + "1726272000000,1,2,0.5\n", "missing data"),
        (HEADER + "1726272000000,1,2,0.5,1.5,3\n1726272000000,1,2,0.5,1.5,3\n", "duplicate timestamps"),
    ],
)
def test_a_bad_file_fails_with_a_message_and_loads_nothing(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        import_file(path)
    assert data.candles_get(exchange="binance", symbol="BTC/USDT", timeframe="1h") == []


def test_missing_file_and_unknown_timeframe_are_refused(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        import_file(tmp_path / "nope.csv")
    path = write_csv(tmp_path / "ok.csv", ["1726272000000,1,2,0.5,1.5,3"])
    with pytest.raises(CommandError, match="unknown timeframe"):
        call_command("import_ohlcv", str(path), exchange="binance", symbol="BTC/USDT", timeframe="7x", no_progress=True)


def test_a_bad_row_is_named_by_its_line_in_the_file(tmp_path):
    rows = ["1726272000000,1,2,0.5,1.5,3", "1726275600000,1,2,0.5,1.5,3", "1726279200000,1,2,0.5,1.5,x"]
    with pytest.raises(CommandError, match=r"line 4, column volume"):  # the header is line 1
        import_file(write_csv(tmp_path / "bad.csv", rows))
    assert data.candles_get(exchange="binance", symbol="BTC/USDT", timeframe="1h") == []


def test_open_times_are_the_exact_milliseconds_of_the_file(tmp_path):
    stamps = [1726272000000, 1726272000001, 1726272000999, 4102444800123]  # the last: 2100-01-01 00:00:00.123
    import_file(write_csv(tmp_path / "ms.csv", [f"{ts},1,2,0.5,1.5,3" for ts in stamps]))
    bars = data.candles_get(exchange="binance", symbol="BTC/USDT", timeframe="1h")
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert [(bar.open_time - epoch) // timedelta(milliseconds=1) for bar in bars] == stamps


def test_an_overlapping_file_adds_new_bars_replaces_changed_and_synthetic_ones_and_leaves_the_rest(tmp_path):
    hour = 3_600_000
    first = 1726272000000
    stored = [f"{first + i * hour},1,2,0.5,1.5,3" for i in range(4)]
    import_file(write_csv(tmp_path / "stored.csv", stored))
    synthetic_time = datetime.fromtimestamp((first + 4 * hour) / 1000, tz=UTC)
    candles_upsert(
        bars=[CandleBar("binance", "BTC/USDT", "1h", synthetic_time, *[Decimal("1.5")] * 4, Decimal(0))],
        synthetic=True,
    )
    # Bar 0 lies before the new file's span; 1 is unchanged, 2 changed, 3 unchanged, 4 synthetic, 5 and 6 new.
    rows = [f"{first + i * hour},1,2,0.5,1.5,3" for i in range(1, 7)]
    rows[1] = f"{first + 2 * hour},1,2,0.5,1.75,3"
    out = import_file(write_csv(tmp_path / "newer.csv", rows))
    assert "read 6, inserted 2, updated 2" in out
    bars = data.candles_get(exchange="binance", symbol="BTC/USDT", timeframe="1h")
    assert len(bars) == 7
    assert not data.candles_frame(exchange="binance", symbol="BTC/USDT", timeframe="1h").is_synthetic.any()
    assert [bar.close for bar in bars] == [Decimal("1.5"), Decimal("1.5"), Decimal("1.75")] + [Decimal("1.5")] * 4
    assert bars[4].volume == Decimal(3)
