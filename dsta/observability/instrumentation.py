"""Facade instrumentation and order counters, installed once per process by ObservabilityConfig.ready().

Domains stay free of metrics code: facade functions are wrapped in place (callers reach them as
`<domain>_api.<function>`, an attribute looked up at call time), and orders are counted from the events the
trading domain already publishes for every status change.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from time import perf_counter
from typing import Any

from prometheus_client import Counter, Histogram

from dsta.domains import DOMAINS
from dsta.kernel import outbox
from dsta.kernel.events import DomainEvent
from dsta.kernel.telemetry import tracing

FACADE_SECONDS = Histogram(
    "dsta_facade_call_seconds",
    "Duration of calls to a domain facade function (exchange.order_submit is the venue round trip)",
    ["facade"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
ORDERS_CREATED = Counter("dsta_orders_created_total", "Orders that entered the placement saga", ["exchange"])
ORDERS_FILLED = Counter("dsta_orders_filled_total", "Orders completely filled", ["exchange"])
ORDERS_REJECTED = Counter("dsta_orders_rejected_total", "Orders rejected (risk or exchange)", ["exchange"])

_INSTRUMENTED = "__dsta_instrumented__"


def instrumented(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` timed into `dsta_facade_call_seconds{facade=label}`, and in a span when tracing is on."""
    observe = FACADE_SECONDS.labels(label).observe

    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def call_async(*args: Any, **kwargs: Any) -> Any:
            started = perf_counter()
            try:
                if tracing.enabled:
                    with tracing.tracer.start_as_current_span(label):
                        return await function(*args, **kwargs)
                return await function(*args, **kwargs)
            finally:
                observe(perf_counter() - started)

        setattr(call_async, _INSTRUMENTED, True)
        return call_async

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        started = perf_counter()
        try:
            if tracing.enabled:
                with tracing.tracer.start_as_current_span(label):
                    return function(*args, **kwargs)
            return function(*args, **kwargs)
        finally:
            observe(perf_counter() - started)

    setattr(call, _INSTRUMENTED, True)
    return call


def instrument_facades() -> list[str]:
    """Wrap every public function defined in each domain's api.py. Returns the labels (idempotent)."""
    labels = []
    for domain in DOMAINS:
        module = importlib.import_module(f"dsta.{domain.name}.api")
        for name, value in list(vars(module).items()):
            if name.startswith("_") or not inspect.isfunction(value) or value.__module__ != module.__name__:
                continue
            label = f"{domain.name}.{name}"
            labels.append(label)
            if not getattr(value, _INSTRUMENTED, False):
                setattr(module, name, instrumented(label, value))
    return labels


def _count_order(event: DomainEvent) -> None:
    if event.event_name != "trading.order_status":
        return
    exchange = getattr(event, "exchange", "")
    if getattr(event, "from_status", None) == "new":
        ORDERS_CREATED.labels(exchange).inc()
    to_status = getattr(event, "to_status", None)
    if to_status == "filled":
        ORDERS_FILLED.labels(exchange).inc()
    elif to_status == "rejected":
        ORDERS_REJECTED.labels(exchange).inc()


def count_orders() -> None:
    outbox.add_publish_listener(_count_order)
