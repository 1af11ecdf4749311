from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand

from dsta.domains import DOMAINS


class Command(BaseCommand):
    help = "Run `migrate` on every domain alias, each as its own role in its own schema."

    def handle(self, *args: object, **options: object) -> None:
        verbosity = int(options.get("verbosity", 1))  # type: ignore[call-overload]
        for domain in DOMAINS:
            self.stdout.write(f"migrating {domain.name} ({domain.alias})")
            call_command("migrate", database=domain.alias, interactive=False, verbosity=max(verbosity - 1, 0))
