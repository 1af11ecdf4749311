"""Several SQL statements in one round trip, for the hot paths that write or read a handful of tables at once.

The connections bind parameters on the server (see settings: the statements are prepared once per connection
and planned without re-parsing), and a server-bound execute takes one statement; psycopg's pipeline mode sends
them all before waiting for any answer, so N statements still cost one round trip.

Array parameters of the hot statements are bound in binary (`%(name)b`): in text form psycopg quotes and escapes
every element in Python (a JSON payload is full of quotes), several times the cost of the binary form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connections, migrations

Statement = tuple[str, Mapping[str, Any] | Sequence[Any]]


def execute_pipelined(*, using: str, statements: Sequence[Statement]) -> list[list[tuple[Any, ...]]]:
    """Run `statements` in order in one round trip on the `using` connection (inside the caller's transaction,
    if any); the rows each returned ([] for those that return none). An error in any of them raises it as
    Django's database error, and the statements after it do not run."""
    if not statements:
        return []
    connection = connections[using]
    if len(statements) == 1:  # a pipeline's own set-up and sync cost more client CPU than the trip it saves
        with connection.cursor() as cursor:
            cursor.execute(*statements[0])
            return [cursor.fetchall() if cursor.description is not None else []]
    with connection.cursor() as first:  # opens the connection if need be; Django's wrapper logs the queries
        cursors = [first] + [connection.cursor() for _ in statements[1:]]
        try:
            with connection.wrap_database_errors, connection.connection.pipeline():
                for cursor, (sql, params) in zip(cursors, statements, strict=True):
                    cursor.execute(sql, params)
            return [cursor.fetchall() if cursor.description is not None else [] for cursor in cursors]
        finally:
            for cursor in cursors[1:]:
                cursor.close()


def table_storage(table: str, **options: float) -> migrations.RunSQL:
    """Migration step setting a table's storage parameters (reversed by resetting them)."""
    settings = ", ".join(f"{name} = {value}" for name, value in options.items())
    return migrations.RunSQL(
        f"ALTER TABLE {table} SET ({settings})",  # nosec B608: migrations' own constants
        reverse_sql=f"ALTER TABLE {table} RESET ({', '.join(options)})",
    )


def tune_hot_rows(table: str) -> migrations.RunSQL:
    """Migration step for a tiny table whose few rows are updated on every order (an account, its balances,
    positions): pages kept mostly empty so each update stays on its page (a HOT update, pruned in place), and
    vacuum after a few hundred dead versions instead of a fifth of the table. Left alone, such a table grew to
    fifty pages of dead versions in a ten-second load test, and every read of its two rows scanned them all."""
    return table_storage(table, fillfactor=10, autovacuum_vacuum_scale_factor=0.0, autovacuum_vacuum_threshold=200)
