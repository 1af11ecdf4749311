from __future__ import annotations

import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dsta.domains import DOMAIN_BY_NAME


class Command(BaseCommand):
    help = "Serve one domain's facade over HTTP (POST /rpc/<domain>/<function>, /healthz, /readyz, /metrics)."
    requires_system_checks: list[str] = []  # the other domains' aliases are absent on purpose

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("domain", choices=sorted(DOMAIN_BY_NAME))
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--threads", type=int, default=None, help="facade calls run at once (DSTA_RPC_THREADS)")

    def handle(self, *args: object, **options: object) -> None:
        domain = str(options["domain"])
        if domain != settings.SERVED_DOMAIN:
            # Settings are read before any command runs: start again with this domain's alias only.
            if settings.SERVED_DOMAIN:
                raise CommandError(f"DSTA_SERVED_DOMAIN is {settings.SERVED_DOMAIN!r}, not {domain!r}")
            os.environ["DSTA_SERVED_DOMAIN"] = domain
            os.execv(sys.executable, [sys.executable, *sys.argv])  # noqa: S606  # nosec B606
        import uvicorn

        from dsta.kernel.rpc.server import DomainApp

        app = DomainApp(domain, alias=DOMAIN_BY_NAME[domain].alias, threads=options["threads"])  # type: ignore[arg-type]
        self.stdout.write(
            f"serving {domain} ({len(app.codecs)} functions) on http://{options['host']}:{options['port']}"
        )
        self.stdout.flush()
        uvicorn.run(
            app,
            host=str(options["host"]),
            port=int(options["port"]),  # type: ignore[call-overload]
            log_level=settings.LOG_LEVEL.lower(),
            access_log=False,
            lifespan="on",
            loop="uvloop",
            http="httptools",
        )
