from __future__ import annotations

import os

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dsta.domains import DOMAINS
from dsta.kernel.bootstrap import create_database, database_name, ensure_roles_and_schemas


class Command(BaseCommand):
    help = "Create the database, one schema and one login role per domain (idempotent). Uses DATABASE_URL."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--domains", nargs="*", default=None, help="only these (a domain served on its own)")

    def handle(self, *args: object, **options: object) -> None:
        wanted = options.get("domains")
        domains = [domain for domain in DOMAINS if not wanted or domain.name in wanted]  # type: ignore[operator]
        admin_url = settings.ADMIN_DATABASE_URL
        name = database_name(admin_url)
        passwords = {
            domain.name: os.environ[f"DSTA_DB_PASSWORD_{domain.name.upper()}"]
            for domain in DOMAINS
            if os.environ.get(f"DSTA_DB_PASSWORD_{domain.name.upper()}")
        }
        try:
            created = create_database(admin_url, name)
            ensure_roles_and_schemas(admin_url, name, domains=domains, passwords=passwords)
        except psycopg.OperationalError as exc:
            raise CommandError(f"cannot reach Postgres at DATABASE_URL: {exc}") from exc
        self.stdout.write(f"database {name}: {'created' if created else 'exists'}")
        for domain in domains:
            self.stdout.write(f"  schema {domain.schema} <- role {domain.role} (alias {domain.alias})")
