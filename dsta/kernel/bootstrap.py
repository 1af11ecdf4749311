"""Creates the database, the per-domain roles and schemas, idempotently, over the admin connection.

Each role owns its schema (so it can migrate it), has its search_path pinned to it, and gets no right on
any other schema: a query from one domain into another fails with "permission denied for schema".
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from dsta.domains import DOMAINS, Domain


def _maintenance_url(admin_url: str) -> str:
    return urlunsplit(urlsplit(admin_url)._replace(path="/postgres"))


def database_name(admin_url: str) -> str:
    return urlsplit(admin_url).path.lstrip("/")


def create_database(admin_url: str, name: str, *, drop_existing: bool = False) -> bool:
    """Create database `name` if missing. Returns True when it was created."""
    with psycopg.connect(_maintenance_url(admin_url), autocommit=True) as conn:
        if drop_existing:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def ensure_roles_and_schemas(
    admin_url: str, database: str, *, domains: Sequence[Domain] = DOMAINS, passwords: dict[str, str] | None = None
) -> None:
    passwords = passwords or {}
    url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{database}"))
    with psycopg.connect(url, autocommit=True) as conn:
        # Nobody but the owner creates objects in public; domains live in their own schemas.
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        for domain in domains:
            role = sql.Identifier(domain.role)
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [domain.role]).fetchone()
            if not exists:
                # Two relays bootstrapping at once may race here; the second sees duplicate_object.
                with contextlib.suppress(psycopg.errors.DuplicateObject):
                    conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
            password = passwords.get(domain.name)
            if password:
                conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(role, sql.Literal(password)))
            conn.execute(sql.SQL("ALTER ROLE {} NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS LOGIN").format(role))
            conn.execute(sql.SQL("ALTER ROLE {} SET search_path = {}").format(role, sql.Identifier(domain.schema)))
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(sql.Identifier(domain.schema), role)
            )
            conn.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(domain.schema), role))
            conn.execute(
                sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(sql.Identifier(database), role)
            )
        # Schemas are private to their role: no USAGE for PUBLIC on any domain schema.
        for domain in domains:
            conn.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(sql.Identifier(domain.schema)))
