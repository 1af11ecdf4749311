"""`manage.py secret_set KEY` stores a secret read from stdin (never from argv: that shows up in `ps`)."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dsta.core import services


class Command(BaseCommand):
    help = "Store a secret (e.g. core/telegram/bot_token) encrypted; the value is read from stdin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key")

    def handle(self, *args: Any, **options: Any) -> None:
        value = sys.stdin.readline().rstrip("\n")
        if not value:
            raise CommandError('no value on stdin (pipe it in: printf %s "$TOKEN" | manage.py secret_set KEY)')
        try:
            metadata = services.secret_set(key=options["key"], value=value)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{metadata.key}: version {metadata.version}")
