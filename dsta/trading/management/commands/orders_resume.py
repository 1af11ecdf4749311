"""`manage.py orders_resume`: finish orders a crash or a transient exchange error left open (re-submits
`submitted` orders with their own client_order_id, so the exchange never gets a second order)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from dsta.trading import orders


class Command(BaseCommand):
    help = "Resume unfinished orders (idempotent at the exchange through client_order_id)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"{orders.orders_resume()} unfinished orders resumed")
