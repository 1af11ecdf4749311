"""Candle storage: a month-partitioned table with a BRIN index, the columnar read, and flagged synthetic bars."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
from django.db import connections, transaction

from dsta.data import api as data
from dsta.data.contracts import CandleBar
from dsta.data.services import candles_upsert
from dsta.data.tests.helpers import import_series, read_with_pandas

pytestmark = pytest.mark.django_db(databases=["data"])


def query(sql: str, params=None):
    with connections["data"].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def bar(when: datetime, close: str, symbol: str = "BTC/USDT") -> CandleBar:
    price = Decimal(close)
    return CandleBar("binance", symbol, "1h", when, price, price + 1, price - 1, price, Decimal("2.5"))


def test_candle_is_range_partitioned_by_month_with_a_brin_index_on_open_time():
    assert query(
        "SELECT partstrat, a.attname FROM pg_partitioned_table p"
        " JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]"
        " WHERE p.partrelid = 'candle'::regclass"
    ) == [("r", "open_time")]
    assert query("SELECT indexdef FROM pg_indexes WHERE indexname = 'candle_open_time_brin'")[0][0].endswith(
        "USING brin (open_time)"
    )
    import_series("BTC/USDT")
    partitions = query(
        "SELECT c.relname, count(*) FROM candle JOIN pg_class c ON c.oid = candle.tableoid GROUP BY 1 ORDER BY 1"
    )
    # 2024-09-14 .. 2026-02-19: one partition per month, each holding that month's bars only.
    assert [name for name, _ in partitions][0] == "candle_2024_09"
    assert [name for name, _ in partitions][-1] == "candle_2026_02"
    assert len(partitions) == 18
    assert dict(partitions)["candle_2025_01"] == 31 * 24
    # A time-range read touches only the partitions of that range.
    plan = "\n".join(
        row[0]
        for row in query(
            "EXPLAIN SELECT * FROM candle WHERE open_time >= '2025-03-01+00' AND open_time < '2025-03-05+00'"
        )
    )
    assert "candle_2025_03" in plan and "candle_2025_04" not in plan


def test_a_bar_in_a_month_without_partition_gets_one():
    data.candle_close(bar=bar(datetime(2031, 7, 4, 5, tzinfo=UTC), "100"))
    assert query("SELECT to_regclass('candle_2031_07') IS NOT NULL") == [(True,)]
    assert [b.close for b in data.candles_get(exchange="binance", symbol="BTC/USDT", timeframe="1h")] == [
        Decimal("100")
    ]


def test_candles_frame_matches_the_file_column_by_column():
    path = import_series("ETH/USDT")
    expected = read_with_pandas(path)
    frame = data.candles_frame(exchange="binance", symbol="ETH/USDT", timeframe="1h")
    table = frame.to_pandas()
    assert len(frame) == len(expected) == 12554
    assert (table.index == expected.index).all()
    for column in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(table[column].to_numpy(), expected[column].to_numpy())
    assert not table["is_synthetic"].any()
    window = data.candles_frame(
        exchange="binance",
        symbol="ETH/USDT",
        timeframe="1h",
        start=datetime(2025, 1, 1, tzinfo=UTC),
        end=datetime(2025, 1, 2, tzinfo=UTC),
    )
    assert len(window) == 24 and window.open_time[0] == np.datetime64("2025-01-01T00:00:00")


def test_empty_series_gives_an_empty_frame():
    frame = data.candles_frame(exchange="binance", symbol="NONE/USDT", timeframe="1h")
    assert len(frame) == 0 and frame.close.dtype == np.float64


def test_newest_bar_times_answer_each_market_in_the_order_asked_across_month_partitions():
    from dsta.data.contracts import MarketKey

    candles_upsert(
        bars=[bar(datetime(2024, 1, 31, 23, tzinfo=UTC), "100"), bar(datetime(2024, 2, 1, 5, tzinfo=UTC), "101")]
    )
    candles_upsert(bars=[bar(datetime(2024, 1, 3, tzinfo=UTC), "50", symbol="ETH/USDT")])
    asked = [
        MarketKey("binance", "ETH/USDT", "1h"),
        MarketKey("binance", "XRP/USDT", "1h"),  # nothing stored
        MarketKey("binance", "BTC/USDT", "1h"),
        MarketKey("binance", "BTC/USDT", "4h"),  # another timeframe of a stored symbol
    ]
    assert data.newest_bar_times(markets=asked) == [
        datetime(2024, 1, 3, tzinfo=UTC),
        None,
        datetime(2024, 2, 1, 5, tzinfo=UTC),
        None,
    ]
    assert data.newest_bar_times(markets=[]) == []


def test_a_synthetic_bar_never_replaces_a_real_one_but_a_real_one_replaces_a_synthetic():
    when = datetime(2025, 5, 1, tzinfo=UTC)
    candles_upsert(bars=[bar(when, "10")])
    candles_upsert(bars=[bar(when, "99")], synthetic=True)
    frame = data.candles_frame(exchange="binance", symbol="BTC/USDT", timeframe="1h")
    assert frame.close.tolist() == [10.0] and frame.is_synthetic.tolist() == [False]

    later = datetime(2025, 5, 1, 1, tzinfo=UTC)
    candles_upsert(bars=[bar(later, "10")], synthetic=True)
    candles_upsert(bars=[bar(later, "11")])
    frame = data.candles_frame(exchange="binance", symbol="BTC/USDT", timeframe="1h")
    assert frame.close.tolist() == [10.0, 11.0] and frame.is_synthetic.tolist() == [False, False]


@pytest.mark.django_db(databases=["data"], transaction=True)
def test_two_writers_creating_the_same_month_at_once_both_succeed():
    # The first creates the partition and holds its transaction open; the second finds none, queues on the lock,
    # and must come out with the partition made, not "relation already exists".
    month = (datetime(2031, 3, 1, tzinfo=UTC), datetime(2031, 3, 20, tzinfo=UTC))
    first_created = threading.Event()
    outcome: dict[str, object] = {}

    def second_writer() -> None:
        first_created.wait(10)
        try:
            with transaction.atomic(using="data"):
                outcome["second"] = query("SELECT candle_partitions_ensure(%s, %s)", month)[0][0]
        except Exception as error:  # reported by the assertion below
            outcome["second"] = error
        finally:
            connections["data"].close()

    writer = threading.Thread(target=second_writer)
    writer.start()
    with transaction.atomic(using="data"):
        assert query("SELECT candle_partitions_ensure(%s, %s)", month)[0][0] == 1
        first_created.set()
        time.sleep(1.0)  # the second writer is now waiting on the partition lock
    writer.join(20)
    assert outcome["second"] == 0
    assert query("SELECT to_regclass('candle_2031_03') IS NOT NULL")[0][0]
    with connections["data"].cursor() as cursor:
        cursor.execute("DROP TABLE candle_2031_03")
