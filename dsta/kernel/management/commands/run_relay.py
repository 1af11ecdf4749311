from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from dsta.domains import DOMAIN_BY_NAME, DOMAINS
from dsta.kernel.metrics import start_metrics_server
from dsta.kernel.relay import Relay


class Command(BaseCommand):
    help = "Relay committed outbox events of every domain to the dramatiq broker."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--once", action="store_true", help="drain what is pending, then exit")
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument("--poll-seconds", type=float, default=None)
        parser.add_argument("--domains", nargs="*", default=None, help="only these outboxes (a served domain's)")

    def handle(self, *args: object, **options: object) -> None:
        domains = [DOMAIN_BY_NAME[name] for name in options["domains"]] if options["domains"] else DOMAINS  # type: ignore[attr-defined]
        relay = Relay(domains=domains, batch_size=options["batch_size"])  # type: ignore[arg-type]
        if options["once"]:
            moved = relay.drain()
            self.stdout.write(f"relayed {moved} events")
            return
        if settings.DSTA_METRICS_PORT:
            start_metrics_server(settings.DSTA_METRICS_PORT)
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        relay.run_forever(stop, poll_seconds=options["poll_seconds"])  # type: ignore[arg-type]
