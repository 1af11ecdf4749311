from django.apps import AppConfig


class KernelConfig(AppConfig):
    name = "dsta.kernel"
    label = "kernel"

    def ready(self) -> None:
        # The broker must exist before any module declares an actor.
        from dsta.kernel.broker import configure_broker

        configure_broker()
        from dsta.kernel import actors  # noqa: F401  (declares the delivery actor)
