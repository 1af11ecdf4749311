"""One middleware per request: request id, log context, HTTP metrics, the request span, the access log line.

It is first in MIDDLEWARE and works sync and async (no thread hop under ASGI). Its cost without tracing is a
few microseconds plus the access log line (`DSTA_ACCESS_LOG=0` turns that off).
"""

from __future__ import annotations

import itertools
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

import structlog
from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware
from django.utils.functional import SimpleLazyObject, empty
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import Counter, Histogram

from dsta.kernel.telemetry import current_trace_id, tracing

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept only if it is short and plain, so a client cannot inject anything into the logs.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UNMATCHED_ROUTE = "<unmatched>"

HTTP_REQUESTS = Counter(
    "dsta_http_requests_total", "HTTP requests by URL pattern, method and status", ["route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "dsta_http_request_duration_seconds",
    "HTTP request latency by URL pattern and method",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

log = structlog.get_logger("dsta.request")
_propagator = TraceContextTextMapPropagator()


class _Ids:
    """Request ids: a random prefix per process and a counter (unique without a syscall per request)."""

    pid = 0
    prefix = ""
    counter = itertools.count()


def _new_request_id() -> str:
    if _Ids.pid != os.getpid():  # a forked child draws its own prefix
        _Ids.pid, _Ids.prefix, _Ids.counter = os.getpid(), uuid.uuid4().hex[:16], itertools.count()
    return f"{_Ids.prefix}{next(_Ids.counter):016x}"


def _request_id(request: HttpRequest) -> str:
    incoming = request.META.get("HTTP_X_REQUEST_ID")
    return incoming if incoming and _VALID_REQUEST_ID.fullmatch(incoming) else _new_request_id()


_request_counters: dict[tuple[str, str, int], Any] = {}
_latency_histograms: dict[tuple[str, str], Any] = {}


def _count(route: str, method: str, status: int, elapsed: float) -> None:
    """The labelled children, cached: `labels()` takes a lock and builds keys on every call."""
    counter = _request_counters.get((route, method, status))
    if counter is None:
        counter = _request_counters[(route, method, status)] = HTTP_REQUESTS.labels(route, method, str(status))
    counter.inc()
    histogram = _latency_histograms.get((route, method))
    if histogram is None:
        histogram = _latency_histograms[(route, method)] = HTTP_LATENCY.labels(route, method)
    histogram.observe(elapsed)


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return (match.route or match.view_name or UNMATCHED_ROUTE) if match is not None else UNMATCHED_ROUTE


def _user_id(request: HttpRequest) -> int | None:
    """The authenticated user's id, without loading a session the request itself never looked at."""
    user = request.__dict__.get("user")  # DRF sets the user it authenticated on the Django request too
    if isinstance(user, SimpleLazyObject):
        user = None if user._wrapped is empty else user._wrapped
    return user.pk if user is not None and user.is_authenticated else None


class _RequestScope:
    __slots__ = ("request", "request_id", "started", "span_scope", "span")

    def __init__(self, request: HttpRequest) -> None:
        self.request = request
        self.request_id = _request_id(request)
        self.started = perf_counter()
        self.span_scope: Any = None
        self.span: Any = None
        structlog.contextvars.clear_contextvars()
        if tracing.enabled:
            parent = _propagator.extract({"traceparent": request.META.get("HTTP_TRACEPARENT", "")})
            self.span_scope = tracing.tracer.start_as_current_span(
                f"{request.method} request", context=parent, kind=SpanKind.SERVER
            )
            self.span = self.span_scope.__enter__()
            structlog.contextvars.bind_contextvars(request_id=self.request_id, trace_id=current_trace_id())
        else:
            structlog.contextvars.bind_contextvars(request_id=self.request_id)

    def finish(self, response: HttpResponse | None, error: BaseException | None = None) -> None:
        request = self.request
        elapsed = perf_counter() - self.started
        route = _route(request)
        method = request.method or "GET"
        status = response.status_code if response is not None else 500
        _count(route, method, status, elapsed)
        if response is not None:
            response[REQUEST_ID_HEADER] = self.request_id
        user_id = _user_id(request)
        if settings.DSTA_ACCESS_LOG:
            log.info(
                "http_request",
                method=method,
                route=route,
                path=request.path,
                status=status,
                duration_ms=round(elapsed * 1000, 3),
                user_id=user_id,
            )
        if self.span is not None:
            self.span.update_name(f"{method} {route}")
            self.span.set_attribute("http.request.method", method)
            self.span.set_attribute("http.route", route)
            self.span.set_attribute("http.response.status_code", status)
            self.span.set_attribute("dsta.request_id", self.request_id)
            if user_id is not None:
                self.span.set_attribute("enduser.id", str(user_id))
            if status >= 500:
                self.span.set_status(Status(StatusCode.ERROR))
            self.span_scope.__exit__(type(error) if error else None, error, error.__traceback__ if error else None)
        structlog.contextvars.clear_contextvars()


@sync_and_async_middleware
def request_observability(
    get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]],
) -> Callable[[HttpRequest], Any]:
    if iscoroutinefunction(get_response):

        async def middleware_async(request: HttpRequest) -> HttpResponse:
            scope = _RequestScope(request)
            try:
                response = await get_response(request)  # type: ignore[misc]
            except BaseException as error:
                scope.finish(None, error)
                raise
            scope.finish(response)
            return response

        return middleware_async

    def middleware(request: HttpRequest) -> HttpResponse:
        scope = _RequestScope(request)
        try:
            response = get_response(request)
        except BaseException as error:
            scope.finish(None, error)
            raise
        scope.finish(response)  # type: ignore[arg-type]
        return response  # type: ignore[return-value]

    return middleware
