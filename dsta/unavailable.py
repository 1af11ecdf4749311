"""Answers for when the database cannot be reached (project wiring, not a domain): 503 with Retry-After and a
clear message, JSON for the API and an error page for the web app, never a 500 with a traceback.

`DatabaseUnavailableMiddleware` turns a view's (DRF's included: its handler re-raises what it does not know)
or a template's failure to reach the database into that answer; `server_error` (the project's handler500) does
the same for one raised in a middleware, and is Django's plain 500 page for anything else.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import psycopg
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults

# A connection refused, lost or timed out waiting for the pool; psycopg's own when raised outside Django's
# wrapper (the pool's background connect).
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)
MESSAGE = (
    "The database is unavailable. The request may not have been applied: retry it later, an order with the "
    "same client_order_id (it is applied at most once)."
)


def unavailable_response(request: HttpRequest) -> HttpResponse:
    retry_after = settings.DSTA_UNAVAILABLE_RETRY_AFTER_SECONDS
    response: HttpResponse
    if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse({"detail": MESSAGE, "code": "database_unavailable"}, status=503)
    else:
        html = render_to_string("web/unavailable.html", {"message": MESSAGE, "retry_after": retry_after})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(retry_after)
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return unavailable_response(request) if isinstance(exception, DATABASE_UNAVAILABLE) else None


def server_error(request: HttpRequest, template_name: str = defaults.ERROR_500_TEMPLATE_NAME) -> HttpResponse:
    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):
        return unavailable_response(request)
    return defaults.server_error(request, template_name)
