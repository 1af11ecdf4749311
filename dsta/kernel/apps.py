import os

from django.apps import AppConfig
from django.conf import settings


class KernelConfig(AppConfig):
    name = "dsta.kernel"
    label = "kernel"

    def ready(self) -> None:
        # The broker must exist before any module declares an actor.
        from dsta.kernel.broker import configure_broker

        configure_broker()
        from dsta.kernel import (
            actors,  # noqa: F401  (declares the delivery actor)
            checks,  # noqa: F401  (registers the project's system checks)
        )

        # DSTA_REMOTE_<DOMAIN>: that domain's facade becomes remote calls; nothing is touched when none is set.
        if any(key.startswith("DSTA_REMOTE_") for key in os.environ):
            from dsta.domains import DOMAINS
            from dsta.kernel.rpc.client import install_from_environment

            install_from_environment([domain.name for domain in DOMAINS], served=settings.SERVED_DOMAIN)
