from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand

from dsta.domains import DOMAINS


class Command(BaseCommand):
    help = "Run `migrate` on every domain alias, each as its own role in its own schema."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--domains", nargs="*", default=None, help="only these (a domain served on its own)")

    def handle(self, *args: object, **options: object) -> None:
        verbosity = int(options.get("verbosity", 1))  # type: ignore[call-overload]
        wanted = options.get("domains")
        for domain in DOMAINS:
            if wanted and domain.name not in wanted:  # type: ignore[operator]
                continue
            self.stdout.write(f"migrating {domain.name} ({domain.alias})")
            call_command("migrate", database=domain.alias, interactive=False, verbosity=max(verbosity - 1, 0))
