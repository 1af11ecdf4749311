from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    """Project wiring for metrics, tracing and logs (not a domain): see dsta/observability/__init__.py."""

    name = "dsta.observability"
    label = "observability"

    def ready(self) -> None:
        from django.conf import settings

        from dsta.kernel import telemetry
        from dsta.observability import instrumentation

        telemetry.configure_tracing(exporter=settings.DSTA_OTEL_EXPORTER, service_name=settings.DSTA_OTEL_SERVICE_NAME)
        instrumentation.instrument_facades()
        instrumentation.count_orders()
