"""Request context, tracing and error reporting shared by every process (web, worker, relay).

- The request context (request id, user id, trace id) lives in structlog's contextvars, so every log line
  written while handling a request carries it, facades included.
- Tracing is OpenTelemetry, off unless `DSTA_OTEL_EXPORTER` is `console` or `otlp`; when off, `span()` is a
  shared null context and nothing is recorded (the per-call cost is one attribute read).
- `outbound_context()` is what an event carries from the request that published it to the worker that
  handles it: the request/user ids and the W3C `traceparent`, so the worker's logs and span join the request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

# Keys of the request context copied into an event's envelope (and bound again around its handler).
PROPAGATED_KEYS = ("request_id", "user_id")

_propagator = TraceContextTextMapPropagator()
_null = contextlib.nullcontext()


class _Tracing:
    enabled = False
    tracer: trace.Tracer = trace.NoOpTracer()
    provider: Any = None


tracing = _Tracing()


def configure_tracing(*, exporter: str, service_name: str = "dsta", span_processor: Any = None) -> None:
    """Turn tracing on (`console`, `otlp`, or a given span processor, for tests) or off (`none`)."""
    if tracing.provider is not None:
        tracing.provider.shutdown()
    if exporter == "none" and span_processor is None:
        tracing.enabled, tracing.tracer, tracing.provider = False, trace.NoOpTracer(), None
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if span_processor is not None:
        provider.add_span_processor(span_processor)
    elif exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        try:  # not a dependency of the project: install opentelemetry-exporter-otlp-proto-http to use it
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise RuntimeError(
                "DSTA_OTEL_EXPORTER=otlp needs the package opentelemetry-exporter-otlp-proto-http"
            ) from exc
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # OTEL_EXPORTER_OTLP_* variables
    else:
        raise ValueError(f"DSTA_OTEL_EXPORTER must be none, console or otlp, not {exporter!r}")
    tracing.enabled, tracing.tracer, tracing.provider = True, provider.get_tracer("dsta"), provider


def span(name: str, attributes: Mapping[str, Any] | None = None) -> contextlib.AbstractContextManager[Any]:
    """A span as a child of the current one, or a no-op when tracing is off."""
    if not tracing.enabled:
        return _null
    return tracing.tracer.start_as_current_span(name, attributes=attributes)


def current_trace_id() -> str:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


def outbound_context() -> dict[str, Any]:
    """The context an event published now carries: bound request/user ids and the trace parent."""
    bound = structlog.contextvars.get_contextvars()
    carried = {key: bound[key] for key in PROPAGATED_KEYS if bound.get(key) is not None}
    if tracing.enabled:
        _propagator.inject(carried)
    return carried


@contextlib.contextmanager
def inbound_context(carried: Mapping[str, Any], *, span_name: str, attributes: Mapping[str, Any]) -> Iterator[None]:
    """Around the handling of an event: bind the publisher's ids for logs, and when tracing is on, open a
    span whose parent is the publisher's span (the worker's span joins the request's trace)."""
    bound = {key: carried[key] for key in PROPAGATED_KEYS if key in carried}
    with structlog.contextvars.bound_contextvars(**bound, **attributes):
        if not tracing.enabled:
            yield
            return
        parent = _propagator.extract(carried) if "traceparent" in carried else otel_context.Context()
        with tracing.tracer.start_as_current_span(span_name, context=parent, attributes=dict(attributes)) as current:
            context = current.get_span_context()
            with structlog.contextvars.bound_contextvars(trace_id=format(context.trace_id, "032x")):
                yield


def init_sentry(*, dsn: str, traces_sample_rate: float = 0.0, environment: str | None = None) -> bool:
    """Initialise Sentry when a DSN is given (errors, and ERROR log lines as events). Returns whether it did."""
    if not dsn:
        return False
    import sentry_sdk

    from dsta.kernel.error_reports import scrub_sentry_event

    scrub: Any = scrub_sentry_event  # sentry_sdk types events as its own TypedDict; ours takes any dict
    sentry_sdk.init(
        dsn=dsn,
        traces_sample_rate=traces_sample_rate,
        environment=environment,
        send_default_pii=False,
        # Frames' local variables, request data, messages and breadcrumbs masked as the error pages are.
        before_send=scrub,
        before_send_transaction=scrub,
    )
    return True
