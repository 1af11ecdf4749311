from __future__ import annotations

import os
import sys

from django.core.management.base import BaseCommand

WORKER_IDLE_POLL_MS = 100


class Command(BaseCommand):
    help = "Start the dramatiq worker pool with every domain's actors loaded."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--processes", type=int, default=1)
        parser.add_argument("--threads", type=int, default=8)
        parser.add_argument("--queues", nargs="*", default=None)
        parser.add_argument("modules", nargs="*", help="extra modules declaring actors or handlers")

    def handle(self, *args: object, **options: object) -> None:
        argv = [
            sys.executable,
            "-m",
            "dramatiq",
            "dsta.worker",
            *options["modules"],  # type: ignore[misc]
            "--processes",
            str(options["processes"]),
            "--threads",
            str(options["threads"]),
        ]
        # An idle consumer backs off up to this long between polls: it bounds event latency when quiet.
        os.environ.setdefault("dramatiq_worker_timeout", str(WORKER_IDLE_POLL_MS))
        if options["queues"]:
            argv += ["--queues", *options["queues"]]  # type: ignore[misc]
        os.execv(sys.executable, argv)  # noqa: S606  (replace this process with the worker)  # nosec B606
