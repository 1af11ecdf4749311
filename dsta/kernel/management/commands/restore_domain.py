from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from dsta.kernel.backup import BackupError, domain_named, restore_domain


class Command(BaseCommand):
    help = "Replace one domain's schema with a backup made by backup_domain (in one transaction)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("domain", help="core, exchange, data, trading or ml")
        parser.add_argument("path", type=Path)

    def handle(self, *args: object, **options: object) -> None:
        try:
            domain = domain_named(str(options["domain"]))
            restore_domain(domain=domain, path=Path(str(options["path"])))
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"restored {domain.name} (schema {domain.schema}) from {options['path']}")
