from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from dsta.kernel.scheduler import Scheduler, jobs_from_settings, poll_seconds_for


class Command(BaseCommand):
    help = "Send the periodic jobs (DSTA_SCHEDULE) to the broker: P&L snapshots, order resume, fills sync."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--once", action="store_true", help="send what is due now, then exit")
        parser.add_argument(
            "--poll-seconds", type=float, default=None, help="default: half the shortest interval, at most 1"
        )

    def handle(self, *args: object, **options: object) -> None:
        try:
            scheduler = Scheduler(jobs_from_settings())
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if options["once"]:
            sent = scheduler.tick()
            self.stdout.write(f"sent {', '.join(sent) or 'nothing'}")
            return
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        poll = options["poll_seconds"] or poll_seconds_for(scheduler.jobs)
        scheduler.run_forever(stop, poll_seconds=poll)  # type: ignore[arg-type]
