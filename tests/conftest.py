"""Fixtures shared by the tests under tests/: domains served in processes of their own."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def served_domains(django_db_setup, tmp_path_factory, fake_binance):  # type: ignore[no-untyped-def]
    """Domains served by `manage.py serve_domain` (started on first use, once per session)."""
    import os

    from dsta.domains import DOMAINS
    from dsta.kernel.tests.served import ServedDomains

    # One key per domain shared by this process and the served ones (not derived: they have other state dirs).
    for domain in DOMAINS:
        os.environ.setdefault(f"DSTA_RPC_KEY_{domain.name.upper()}", f"test-rpc-key-{domain.name}")

    # django_db_setup pointed DATABASE_URL at the test database; served domains without one of their own use it.
    served = ServedDomains(
        test_admin_url=os.environ["DATABASE_URL"],
        log_dir=tmp_path_factory.mktemp("served"),
        extra_env={
            "DSTA_EXCHANGE_BINANCE_URL": fake_binance.url,
            "DSTA_STATE_DIR": str(tmp_path_factory.mktemp("served-state")),
            "DSTA_RPC_TIMEOUT_SECONDS": "120",  # a training run with wait=True answers when it is done
        },
    )
    yield served
    served.stop()


@pytest.fixture(scope="session")
def fake_binance():  # type: ignore[no-untyped-def]
    """One fake Binance for the session (served exchange processes are started pointing at it)."""
    from dsta.exchange.tests.fake_venues import Binance, FakeVenueServer

    server = FakeVenueServer(Binance()).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def committed_candles(django_db_blocker, tmp_path_factory):
    """3,000 BTC/USDT 1h demo bars committed to the data schema: the served ml reads them through served data."""
    import gzip
    import itertools
    from io import StringIO
    from pathlib import Path

    from django.core.management import call_command

    from dsta.data.models import Candle

    demo = Path(__file__).resolve().parents[1] / "dsta" / "data" / "demo" / "BTC_USDT-1h.csv.gz"
    path = tmp_path_factory.mktemp("candles") / "btc-1h.csv.gz"
    with gzip.open(demo, "rt") as source, gzip.open(path, "wt") as part:
        part.writelines(itertools.islice(source, 3001))
    with django_db_blocker.unblock():
        call_command(
            "import_ohlcv",
            str(path),
            exchange="binance",
            symbol="BTC/USDT",
            timeframe="1h",
            no_progress=True,
            stdout=StringIO(),
        )
        yield
        Candle.objects.using("data").filter(exchange="binance", symbol="BTC/USDT").delete()
