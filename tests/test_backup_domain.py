"""Backups per domain (dsta/kernel/backup.py): trading and exchange are backed up, restored into a fresh
database, and reconciliation of positions and open orders against the exchange then reports no drift; every
table of both schemas (outbox and inbox included) has the rows it had. A trading backup older than the
exchange's is caught by the same reconciliation, and bad input is a clear command error."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connections
from psycopg import sql

from dsta.domains import DOMAIN_BY_NAME, DOMAINS
from dsta.exchange import api as exchange_api
from dsta.exchange.contracts import OrderBook, PriceLevel
from dsta.kernel.bootstrap import create_database, ensure_roles_and_schemas
from dsta.trading import orders
from dsta.trading.models import MarkPrice

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
D = Decimal
SYMBOL = "BTC/USDT"
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def admin_url(database: str) -> str:
    return urlunsplit(urlsplit(settings.ADMIN_DATABASE_URL)._replace(path=f"/{database}"))


def row_counts(database: str, schema: str) -> dict[str, int]:
    with psycopg.connect(admin_url(database)) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = %s AND table_type = 'BASE TABLE'",
                [schema],
            )
        ]
        query = "SELECT count(*) FROM {}.{}"
        return {
            table: conn.execute(sql.SQL(query).format(sql.Identifier(schema), sql.Identifier(table))).fetchone()[0]
            for table in tables
        }


@contextlib.contextmanager
def databases_named(name: str) -> Iterator[None]:
    """Point every domain alias of this process at database `name` for the block."""
    saved = {alias: settings.DATABASES[alias]["NAME"] for alias in settings.DATABASES}
    connections.close_all()
    for alias in settings.DATABASES:
        settings.DATABASES[alias]["NAME"] = name
        connections[alias].settings_dict["NAME"] = name
    try:
        yield
    finally:
        connections.close_all()
        for alias, original in saved.items():
            settings.DATABASES[alias]["NAME"] = original
            connections[alias].settings_dict["NAME"] = original


def buy(quantity: str, order_type: str = "market", price: str | None = None) -> None:
    orders.order_place(
        orders.NewOrder(
            exchange="paper",
            symbol=SYMBOL,
            side="buy",
            order_type=order_type,
            quantity=D(quantity),
            price=D(price) if price else None,
            client_order_id="",
        )
    )


def deliver_exchange_events() -> None:
    """Exchange's events into trading's inbox, as the relay and worker would (trading's inbox gets rows)."""
    import dsta.trading.actors  # noqa: F401  (registers the handlers)
    from dsta.kernel.handlers import deliver
    from dsta.kernel.relay import Relay

    exchange = DOMAIN_BY_NAME["exchange"]
    deliver(Relay(domains=[exchange], batch_size=1000).claim(exchange))


def drift() -> tuple[list, list, list]:
    report = orders.positions_reconcile(exchange="paper", repair=False, actor_id=None)
    return report.positions, report.unknown_open_orders, report.missing_open_orders


def test_trading_and_exchange_restored_into_a_fresh_database_reconcile_without_drift(tmp_path):
    exchange_api.paper_reset(slippage_bps=D(0), slippage_jitter_bps=D(0))
    exchange_api.paper_deposit(asset="USDT", amount=D("100000"))
    book = OrderBook("paper", SYMBOL, NOW, (PriceLevel(D(99), D(10)),), (PriceLevel(D(100), D(10)),))
    exchange_api.paper_book_feed(book=book)
    MarkPrice.objects.using("trading").create(exchange="paper", symbol=SYMBOL, price=D(100), as_of=NOW)
    buy("1")
    buy("0.5", order_type="limit", price="98")  # rests: open at the venue and here
    deliver_exchange_events()
    call_command("backup_domain", "trading", str(tmp_path / "trading-old.dump"))
    buy("2")  # after that trading backup
    deliver_exchange_events()
    assert drift() == ([], [], [])

    source = settings.DATABASES["trading"]["NAME"]
    counts = {schema: row_counts(source, schema) for schema in ("trading", "exchange")}
    assert counts["trading"]["inbox"] > 0 and counts["trading"]["outbox"] > 0 and counts["exchange"]["outbox"] > 0
    for name in ("trading", "exchange"):
        call_command("backup_domain", name, str(tmp_path / f"{name}.dump"))

    fresh = f"{source}_restore"
    create_database(settings.ADMIN_DATABASE_URL, fresh, drop_existing=True)
    try:
        ensure_roles_and_schemas(admin_url(fresh), fresh)
        with databases_named(fresh):
            call_command("restore_domain", "exchange", str(tmp_path / "exchange.dump"))
            call_command("restore_domain", "trading", str(tmp_path / "trading-old.dump"))
            stale_positions, _, _ = drift()
            assert [(d.symbol, d.recorded, d.exchange) for d in stale_positions] == [(SYMBOL, D(1), D(3))]

            call_command("restore_domain", "trading", str(tmp_path / "trading.dump"))  # over the stale one
            assert {schema: row_counts(fresh, schema) for schema in ("trading", "exchange")} == counts
            assert drift() == ([], [], [])
    finally:
        with psycopg.connect(admin_url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(fresh)))


def test_bad_input_is_a_clear_command_error(tmp_path):
    with pytest.raises(CommandError, match="unknown domain 'nope'"):
        call_command("backup_domain", "nope", str(tmp_path / "x.dump"))
    with pytest.raises(CommandError, match="no backup file"):
        call_command("restore_domain", "trading", str(tmp_path / "missing.dump"))
    (tmp_path / "junk.dump").write_text("not an archive")
    with pytest.raises(CommandError, match="not a pg_dump archive"):
        call_command("restore_domain", "trading", str(tmp_path / "junk.dump"))
    call_command("backup_domain", "exchange", str(tmp_path / "exchange.dump"))
    with pytest.raises(CommandError, match="not the trading domain's 'trading'"):
        call_command("restore_domain", "trading", str(tmp_path / "exchange.dump"))
    with pytest.raises(CommandError, match="no directory"):
        call_command("backup_domain", "trading", str(Path(tmp_path) / "absent" / "trading.dump"))
