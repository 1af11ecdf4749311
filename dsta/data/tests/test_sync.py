"""Backfill / incremental sync jobs and gap filling, against a real candle source: Binance's own candles
replayed from the shipped files (the exchange facade's source is the same port; its end-to-end test waits
for the exchange domain). One test runs the job through the real API, Redis and a dramatiq worker process."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connections

from dsta.data import api as data
from dsta.data import selectors, services
from dsta.data.management.commands.load_demo_data import DEMO_DIR
from dsta.data.sources import CsvCandleSource
from dsta.data.tests.helpers import import_series, read_with_pandas
from dsta.domains import DOMAINS
from dsta.kernel.tests import processes

START = datetime(2024, 9, 14, tzinfo=UTC)
END = datetime(2024, 10, 1, tzinfo=UTC)  # 17 days: 408 hourly bars
REPLAY = CsvCandleSource(DEMO_DIR)


class SourceThatDies:
    """The real replay source, cut off after `pages` fetches, as a worker killed mid-job would be."""

    def __init__(self, pages: int):
        self.pages = pages

    def fetch(self, **query):
        if self.pages == 0:
            raise ConnectionError("exchange went away")
        self.pages -= 1
        return REPLAY.fetch(**query)


def stored(symbol: str = "BTC/USDT") -> list:
    return data.candles_get(exchange="binance", symbol=symbol, timeframe="1h")


def expected_closes(start: datetime, end: datetime, symbol: str = "BTC/USDT") -> list[Decimal]:
    with gzip.open(DEMO_DIR / f"{symbol.replace('/', '_')}-1h.csv.gz", "rt") as handle:
        rows = [line.split(",") for line in handle.read().splitlines()[1:]]
    low, high = start.timestamp() * 1000, end.timestamp() * 1000
    return [Decimal(row[4]) for row in rows if low <= int(row[0]) < high]


def new_job(mode: str = "backfill", start=START, end=END) -> str:
    job = services.ingestion_job_create(
        exchange="binance", symbol="BTC/USDT", timeframe="1h", mode=mode, start=start, end=end
    )
    return job.id


@pytest.mark.django_db(databases=["data"])
def test_a_paused_backfill_resumes_at_its_cursor_and_stores_each_bar_once():
    job_id = new_job()
    job = services.ingestion_job_run(job_id=job_id, source=REPLAY, page_size=100, max_pages=2)
    assert (job.status, job.pages, job.bars_written, job.cursor) == ("running", 2, 200, START + timedelta(hours=200))
    assert len(stored()) == 200
    job = services.ingestion_job_run(job_id=job_id, source=REPLAY, page_size=100)
    assert (job.status, job.pages, job.bars_written) == ("done", 5, 408)
    assert [bar.close for bar in stored()] == expected_closes(START, END)
    assert services.ingestion_job_run(job_id=job_id, source=REPLAY, page_size=100).bars_written == 408  # done


@pytest.mark.django_db(databases=["data"])
def test_a_crashed_job_is_failed_with_its_error_then_resumed_without_duplicates():
    job_id = new_job()
    with pytest.raises(ConnectionError):
        services.ingestion_job_run(job_id=job_id, source=SourceThatDies(pages=3), page_size=100)
    job = selectors.ingestion_job_get(job_id=job_id)
    assert (job.status, job.bars_written, job.cursor) == ("failed", 300, START + timedelta(hours=300))
    assert "exchange went away" in job.error
    # What the crashed page would have refetched is harmless: the upsert keys on the bar.
    job = services.ingestion_job_run(job_id=job_id, source=REPLAY, page_size=100)
    assert (job.status, job.error) == ("done", "")
    assert [bar.close for bar in stored()] == expected_closes(START, END)


@pytest.mark.django_db(databases=["data"])
def test_a_job_already_running_elsewhere_is_left_alone():
    import psycopg

    settings_dict = connections["data"].settings_dict
    job_id = new_job()
    other = psycopg.connect(
        dbname=settings_dict["NAME"],
        user=settings_dict["USER"],
        host=settings_dict["HOST"],
        port=settings_dict["PORT"],
        password=settings_dict["PASSWORD"] or None,
        autocommit=True,
    )
    try:
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [f"ingestion_job:{job_id}"])
        job = services.ingestion_job_run(job_id=job_id, source=REPLAY, page_size=100)
        assert (job.status, job.pages) == ("pending", 0) and stored() == []
    finally:
        other.close()  # the holder goes away: its lock with it, once the server has ended its session
    assert processes.wait_until(
        lambda: services.ingestion_job_run(job_id=job_id, source=REPLAY, page_size=100).status == "done", timeout=10
    )


@pytest.mark.django_db(databases=["data"])
def test_incremental_sync_continues_after_the_last_bar_and_publishes_closed_candles():
    services.ingestion_job_run(job_id=new_job(), source=REPLAY, page_size=500)
    later = datetime(2024, 10, 2, tzinfo=UTC)
    job_id = new_job(mode="incremental", start=None, end=later)
    job = services.ingestion_job_run(job_id=job_id, source=REPLAY, page_size=500)
    assert (job.status, job.bars_written) == ("done", 24)
    assert [bar.close for bar in stored()] == expected_closes(START, later)
    with connections["data"].cursor() as cursor:
        cursor.execute("SELECT payload->>'open_time' FROM outbox WHERE name = 'data.candle_closed' ORDER BY id")
        published = [row[0] for row in cursor.fetchall()]
    assert len(published) == 24 and published[0].startswith("2024-10-01T00:00:00")


@pytest.mark.django_db(databases=["data"])
def test_a_sync_never_stores_the_bar_still_forming():
    """The replay source has bars up to 2026-02-19; a job without `end` stops at the last closed bar."""
    job_id = new_job(start=datetime(2026, 2, 18, tzinfo=UTC), end=None)
    job = services.ingestion_job_run(job_id=job_id, source=REPLAY, page_size=1000)
    assert job.status == "done" and stored()[-1].open_time == datetime(2026, 2, 19, 3, tzinfo=UTC)


@pytest.mark.django_db(databases=["data"])
def test_gap_fill_takes_what_the_exchange_has_and_flags_forward_fill_for_the_rest(tmp_path):
    path = import_series("BTC/USDT")
    holes = [datetime(2025, 6, 1, hour, tzinfo=UTC) for hour in (10, 11, 12, 13)]
    with connections["data"].cursor() as cursor:
        cursor.execute("DELETE FROM candle WHERE open_time = ANY(%s)", [holes])
    # The exchange side knows 10:00 and 11:00 only (a replay file without the other two).
    with gzip.open(path, "rt") as handle:
        lines = handle.read().splitlines()
    lacking = {str(int(moment.timestamp() * 1000)) for moment in holes[2:]}
    (tmp_path / "BTC_USDT-1h.csv.gz").write_bytes(
        gzip.compress(("\n".join(line for line in lines if line.split(",")[0] not in lacking) + "\n").encode())
    )
    filled = services.gaps_fill(exchange="binance", symbol="BTC/USDT", timeframe="1h", source=CsvCandleSource(tmp_path))
    assert [(g.first_missing, g.missing, g.filled_from_exchange, g.filled_synthetic) for g in filled] == [
        (holes[0], 4, 2, 2)
    ]
    frame = data.candles_frame(exchange="binance", symbol="BTC/USDT", timeframe="1h").to_pandas()
    truth = read_with_pandas(path)
    assert len(frame) == len(truth)
    assert not frame.loc[holes[:2], "is_synthetic"].any()
    assert frame.loc[holes[:2], "close"].tolist() == truth.loc[holes[:2], "close"].tolist()
    synthetic = frame.loc[holes[2:]]
    assert synthetic["is_synthetic"].all() and (synthetic["volume"] == 0).all()
    carried = truth.loc[holes[1], "close"]  # the last real close before them
    assert (synthetic[["open", "high", "low", "close"]] == carried).all().all()
    assert data.gaps_find(exchange="binance", symbol="BTC/USDT", timeframe="1h") == []
    recorded = selectors.gaps_recorded(exchange="binance", symbol="BTC/USDT", timeframe="1h")
    assert [(g.status, g.filled_from_exchange, g.filled_synthetic) for g in recorded] == [("filled", 2, 2)]
    # Analytics leave the forward-filled bars out.
    assert selectors.performance_get(exchange="binance", symbol="BTC/USDT", timeframe="1h").periods == len(truth) - 3


@pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
def test_sync_endpoint_runs_the_job_on_a_real_worker(clean_broker, children, tmp_path, client, django_user_model):
    children(processes.worker(tmp_path, DSTA_CANDLE_SOURCE=f"csv:{DEMO_DIR}", DSTA_SYNC_PAGE_SIZE="100", threads=2))
    client.force_login(django_user_model.objects.create_superuser("operator", password="x" * 12))
    response = client.post(
        "/api/v1/market-data/sync",
        {
            "exchange": "binance",
            "symbol": "ETH/USDT",
            "timeframe": "1h",
            "mode": "backfill",
            "start": START.isoformat(),
            "end": END.isoformat(),
        },
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    url = f"/api/v1/market-data/sync/{response.json()['id']}"
    assert processes.wait_until(lambda: client.get(url).json()["status"] == "done", timeout=120)
    assert client.get(url).json()["bars_written"] == 408
    assert [bar.close for bar in stored("ETH/USDT")] == expected_closes(START, END, "ETH/USDT")
    refused = client.post(
        "/api/v1/market-data/sync",
        {"exchange": "binance", "symbol": "ETH/USDT", "timeframe": "1h", "mode": "backfill"},
        content_type="application/json",
    )
    assert refused.status_code == 400 and "start" in refused.json()
