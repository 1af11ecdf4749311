"""Pipelined statements and hot-row storage against the real Postgres."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connections, transaction
from django.test.utils import CaptureQueriesContext

from dsta.domains import DOMAINS
from dsta.kernel.sql import execute_pipelined

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
ALIAS = "trading"


def scratch_table() -> None:
    with connections[ALIAS].cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS pipelined (id int PRIMARY KEY, label text)")
        cursor.execute("TRUNCATE pipelined")


def test_statements_run_in_order_and_each_returns_its_own_rows():
    scratch_table()
    with CaptureQueriesContext(connections[ALIAS]) as captured:
        inserted, plain, counted = execute_pipelined(
            using=ALIAS,
            statements=[
                ("INSERT INTO pipelined VALUES (%(id)s, %(label)s) RETURNING id", {"id": 1, "label": "first"}),
                ("UPDATE pipelined SET label = %(label)s WHERE id = 1", {"label": "second"}),
                ("SELECT count(*), min(label) FROM pipelined WHERE id = %s", [1]),
            ],
        )
    assert inserted == [(1,)] and plain == [] and counted == [(1, "second")]  # the update ran before the read
    assert len(captured.captured_queries) == 3  # still logged one by one, like any statement
    assert execute_pipelined(using=ALIAS, statements=[]) == []


def test_one_statement_runs_plainly_with_the_same_answer_and_errors():
    scratch_table()
    with CaptureQueriesContext(connections[ALIAS]) as captured:
        assert execute_pipelined(
            using=ALIAS, statements=[("INSERT INTO pipelined VALUES (%s, %s) RETURNING id", [7, "x"])]
        ) == [[(7,)]]
        assert execute_pipelined(using=ALIAS, statements=[("UPDATE pipelined SET label = 'y'", [])]) == [[]]
    assert len(captured.captured_queries) == 2
    with pytest.raises(IntegrityError), transaction.atomic(using=ALIAS):
        execute_pipelined(using=ALIAS, statements=[("INSERT INTO pipelined VALUES (%s, %s)", [7, "duplicate"])])


def test_an_error_raises_djangos_error_and_the_transaction_keeps_none_of_it():
    scratch_table()
    with pytest.raises(IntegrityError), transaction.atomic(using=ALIAS):
        execute_pipelined(
            using=ALIAS,
            statements=[
                ("INSERT INTO pipelined VALUES (%s, %s)", [2, "kept?"]),
                ("INSERT INTO pipelined VALUES (%s, %s)", [2, "duplicate key"]),
                ("INSERT INTO pipelined VALUES (%s, %s)", [3, "never runs"]),
            ],
        )
    with connections[ALIAS].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pipelined")
        assert cursor.fetchone()[0] == 0


@pytest.mark.parametrize(
    ("alias", "table"), [("exchange", "paper_account"), ("exchange", "paper_balance"), ("trading", "position")]
)
def test_hot_row_tables_keep_room_on_each_page_and_vacuum_early(alias, table):
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [table])
        options = set(cursor.fetchone()[0])
    assert {"fillfactor=10", "autovacuum_vacuum_scale_factor=0.0", "autovacuum_vacuum_threshold=200"} <= options
