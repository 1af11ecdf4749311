"""Market-data sync and gap filling with the production candle source: the data domain's ExchangeCandleSource
calls `exchange.api.ohlcv_fetch`, whose real ccxt Binance client talks HTTP to a fake Binance on 127.0.0.1
that serves the shipped 1h candles as klines. The sync runs through POST /api/v1/market-data/sync, Redis and
a dramatiq worker process; that worker is killed mid-job and the job resumes at its committed cursor."""

from __future__ import annotations

import gzip
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connections

from dsta.data import api as data
from dsta.data.management.commands.load_demo_data import DEMO_DIR
from dsta.domains import DOMAINS
from dsta.exchange.tests.fake_venues import Binance, FakeVenueServer, Reply
from dsta.kernel.tests import processes

ALL = [domain.alias for domain in DOMAINS]
START = datetime(2024, 9, 14, tzinfo=UTC)
END = datetime(2024, 10, 1, tzinfo=UTC)  # 408 hourly bars
HOUR_MS = 3_600_000


def shipped_rows(symbol: str) -> list[list[str]]:
    with gzip.open(DEMO_DIR / f"{symbol.replace('/', '_')}-1h.csv.gz", "rt") as handle:
        return [line.split(",") for line in handle.read().splitlines()[1:]]


class BinanceWithHistory(Binance):
    """Fake Binance whose /api/v3/klines answers from the shipped files (Binance's own candles).

    `hold_after` pages are served, then kline requests wait until `release` is set: a worker can be caught
    mid-job with some pages committed."""

    def __init__(self, *, hold_after: int | None = None) -> None:
        super().__init__()
        self.hold_after = hold_after
        self.release = threading.Event()
        self.kline_starts: list[int] = []
        self._rows = {"BTCUSDT": shipped_rows("BTC/USDT"), "ETHUSDT": shipped_rows("ETH/USDT")}

    def klines(self, params: dict[str, str]) -> Reply:  # type: ignore[override]
        assert params["interval"] == "1h"
        self.kline_starts.append(int(params["startTime"]))
        if self.hold_after is not None and len(self.kline_starts) > self.hold_after:
            self.release.wait(timeout=60)
        start, limit = int(params["startTime"]), int(params.get("limit", 500))
        end = int(params.get("endTime", 2**62))
        rows = [row for row in self._rows[params["symbol"]] if start <= int(row[0]) <= end][:limit]
        return Reply(200, [[int(r[0]), *r[1:6], int(r[0]) + HOUR_MS - 1, "0", 1, "0", "0", "0"] for r in rows])


@pytest.fixture
def venue(request, monkeypatch, settings):
    from dsta.core import api as core
    from dsta.exchange import api as exchange

    server = FakeVenueServer(BinanceWithHistory(**getattr(request, "param", {}))).start()
    monkeypatch.setenv("DSTA_EXCHANGE_BINANCE_URL", server.url)  # inherited by the worker processes too
    monkeypatch.setenv("DSTA_CANDLE_SOURCE", "exchange")
    settings.DSTA_CANDLE_SOURCE = "exchange"
    core.secret_set(key="exchange/binance/api_key", value="test-key")
    core.secret_set(key="exchange/binance/secret", value="test-secret")
    exchange.clients_reset()
    yield server
    server.dialect.release.set()
    exchange.clients_reset()
    server.stop()


def expected_closes(symbol: str, start: datetime, end: datetime) -> list[Decimal]:
    low, high = start.timestamp() * 1000, end.timestamp() * 1000
    return [Decimal(row[4]) for row in shipped_rows(symbol) if low <= int(row[0]) < high]


def stored(symbol: str) -> list:
    return data.candles_get(exchange="binance", symbol=symbol, timeframe="1h")


@pytest.mark.parametrize("venue", [{"hold_after": 2}], indirect=True)
@pytest.mark.django_db(databases=ALL, transaction=True)
def test_sync_from_the_exchange_survives_a_killed_worker_and_resumes_at_its_cursor(
    venue, clean_broker, children, tmp_path, client, django_user_model
):
    from dsta.data.actors import ingestion_jobs_resume

    first = children(processes.worker(tmp_path, name="worker-1", DSTA_SYNC_PAGE_SIZE="100", threads=1))
    client.force_login(django_user_model.objects.create_superuser("operator", password="x" * 12))
    response = client.post(
        "/api/v1/market-data/sync",
        {"exchange": "binance", "symbol": "ETH/USDT", "timeframe": "1h", "mode": "backfill"}
        | {"start": START.isoformat(), "end": END.isoformat()},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    url = f"/api/v1/market-data/sync/{response.json()['id']}"
    dialect = venue.dialect
    # Two pages committed, the worker waiting on the venue for the third: kill it there.
    assert processes.wait_until(lambda: len(dialect.kline_starts) == 3, timeout=120), first.log_tail()
    job = client.get(url).json()
    assert (job["status"], job["pages"], job["bars_written"]) == ("running", 2, 200)
    cursor = START + timedelta(hours=200)
    assert datetime.fromisoformat(job["cursor"].replace("Z", "+00:00")) == cursor
    first.kill()
    dialect.release.set()
    assert len(stored("ETH/USDT")) == 200

    children(processes.worker(tmp_path, name="worker-2", DSTA_SYNC_PAGE_SIZE="100", threads=1))
    assert ingestion_jobs_resume() == [job["id"]]
    assert processes.wait_until(lambda: client.get(url).json()["status"] == "done", timeout=120)
    job = client.get(url).json()
    assert (job["pages"], job["bars_written"], job["error"]) == (5, 408, "")
    # The resumed run asked the venue from the committed cursor on, never from the start again.
    assert dialect.kline_starts[3] == int(cursor.timestamp() * 1000)
    assert START.timestamp() * 1000 not in dialect.kline_starts[3:]
    assert [bar.close for bar in stored("ETH/USDT")] == expected_closes("ETH/USDT", START, END)
    with connections["data"].cursor() as db:
        db.execute("SELECT count(*), count(DISTINCT open_time) FROM candle WHERE symbol = 'ETH/USDT'")
        assert db.fetchone() == (408, 408)


@pytest.mark.django_db(databases=ALL)
def test_a_gap_is_filled_from_the_exchange_not_forward_filled(venue, client, django_user_model):
    from dsta.data.services import candles_import_file

    candles_import_file(path=DEMO_DIR / "BTC_USDT-1h.csv.gz", exchange="binance", symbol="BTC/USDT", timeframe="1h")
    holes = [datetime(2025, 6, 1, hour, tzinfo=UTC) for hour in range(10, 16)]
    with connections["data"].cursor() as db:
        db.execute("DELETE FROM candle WHERE symbol = 'BTC/USDT' AND open_time = ANY(%s)", [holes])
    assert [gap.missing for gap in data.gaps_find(exchange="binance", symbol="BTC/USDT", timeframe="1h")] == [6]

    client.force_login(django_user_model.objects.create_superuser("operator", password="x" * 12))
    response = client.post(
        "/api/v1/market-data/gaps/fill",
        {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    [gap] = response.json()["filled"]
    assert (gap["missing"], gap["filled_from_exchange"], gap["filled_synthetic"]) == (6, 6, 0)
    assert int(holes[0].timestamp() * 1000) in venue.dialect.kline_starts
    by_time = {bar.open_time: bar for bar in stored("BTC/USDT")}
    truth = {int(row[0]): row for row in shipped_rows("BTC/USDT")}
    for moment in holes:
        row = truth[int(moment.timestamp() * 1000)]
        bar = by_time[moment]
        assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == tuple(map(Decimal, row[1:6]))
        assert bar.high != bar.low  # a real bar, not a flat forward-filled stand-in
    frame = data.candles_frame(exchange="binance", symbol="BTC/USDT", timeframe="1h")
    assert not frame.is_synthetic.any() and len(frame.close) == len(truth)
    assert data.gaps_find(exchange="binance", symbol="BTC/USDT", timeframe="1h") == []
