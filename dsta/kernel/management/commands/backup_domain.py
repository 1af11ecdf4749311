from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from dsta.kernel.backup import BackupError, backup_domain, domain_named


class Command(BaseCommand):
    help = "Back up one domain's schema (its outbox and inbox included) to PATH, in pg_dump's custom format."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("domain", help="core, exchange, data, trading or ml")
        parser.add_argument("path", type=Path)

    def handle(self, *args: object, **options: object) -> None:
        try:
            domain = domain_named(str(options["domain"]))
            backup_domain(domain=domain, path=Path(str(options["path"])))
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"backed up {domain.name} (schema {domain.schema}) to {options['path']}")
