"""Test-only URLconf: the project's routes plus views that fail, for the debug-page tests (test_debug_pages.py)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.urls import path

from dsta.urls import urlpatterns as project_urlpatterns


def explode(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the view failed")


def explode_holding_secrets(request: HttpRequest) -> HttpResponse:
    # What real code holds in its frames when it fails: a header it read, a connection string, the headers.
    authorization = request.headers.get("Authorization")
    connection = settings.ADMIN_DATABASE_URL
    headers = request.headers
    raise RuntimeError(f"could not use {len(authorization or '')} {len(connection)} {len(headers)}")


def suspicious(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation("a crafted request")


urlpatterns = [
    path("test-only/explode", explode),
    path("test-only/explode-holding-secrets", explode_holding_secrets),
    path("test-only/suspicious", suspicious),
    *project_urlpatterns,
]
