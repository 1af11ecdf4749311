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
            _ensure_role(conn, domain, passwords.get(domain.name))
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(
                    sql.Identifier(domain.schema), sql.Identifier(domain.role)
                )
            )
            owner = conn.execute(
                "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", [domain.schema]
            ).fetchone()
            if owner is None or owner[0] != domain.role:
                conn.execute(
                    sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(
                        sql.Identifier(domain.schema), sql.Identifier(domain.role)
                    )
                )
            conn.execute(
                sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                    sql.Identifier(database), sql.Identifier(domain.role)
                )
            )
        # Schemas are private to their role: no USAGE for PUBLIC on any domain schema.
        for domain in domains:
            conn.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(sql.Identifier(domain.schema)))


def _ensure_role(conn: psycopg.Connection, domain: Domain, password: str | None) -> None:
    """Create or correct the role, touching the catalog only when something differs: roles are cluster-wide,
    and two bootstraps of different databases altering one role at once would collide."""
    role = sql.Identifier(domain.role)
    row = conn.execute(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolcanlogin,"
        " coalesce((SELECT setconfig FROM pg_db_role_setting WHERE setrole = r.oid AND setdatabase = 0), '{}')"
        " FROM pg_roles AS r WHERE rolname = %s",
        [domain.role],
    ).fetchone()
    if row is None:
        # Two bootstraps may race here; the second one sees duplicate_object.
        with contextlib.suppress(psycopg.errors.DuplicateObject):
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
        row = (False, False, False, False, True, [])
    superuser, createdb, createrole, bypassrls, login, role_settings = row
    if superuser or createdb or createrole or bypassrls or not login:
        conn.execute(sql.SQL("ALTER ROLE {} NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS LOGIN").format(role))
    if f"search_path={domain.schema}" not in role_settings:
        conn.execute(sql.SQL("ALTER ROLE {} SET search_path = {}").format(role, sql.Identifier(domain.schema)))
    if password:
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(role, sql.Literal(password)))
