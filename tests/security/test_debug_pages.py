"""Issue 20.12: with DEBUG on, an error page showed the admin database URL, the Redis URL, paths, and the raw
`authorization` header and cookies inside `asgi.scope` (a2wsgi's copy of the ASGI scope in the WSGI environ),
to anyone who could make a view fail.

Requests go through the real ASGI application (dsta.asgi: admission, a2wsgi, Django's WSGI handler and every
middleware), in process, from a chosen client address; the failing views are in the test-only URLconf
tests/security/debug_urls.py.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
import structlog
from django.conf import settings as django_settings

pytestmark = pytest.mark.django_db

BEARER = "eyJhbGciOiJIUzI1NiJ9.bearer-secret-value.sig"
API_KEY = "dsta_abcdef123456_api-key-secret-value"
SESSION = "session-cookie-secret-value"
QUERY_TOKEN = "query-token-secret-value"
DB_PASSWORD = "db-password-secret-value"
LOCAL, OUTSIDER = ("127.0.0.1", 50000), ("203.0.113.9", 50000)


@pytest.fixture
def debug(settings):  # type: ignore[no-untyped-def]
    settings.DEBUG = True
    settings.ROOT_URLCONF = "tests.security.debug_urls"
    # A production-like connection string with a password, as the page would have shown it.
    settings.ADMIN_DATABASE_URL = f"postgres://dsta_admin:{DB_PASSWORD}@db.internal:5432/dsta"
    return settings


def get(path: str, client: tuple[str, int], **headers: str) -> httpx.Response:
    from dsta.asgi import application

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=application, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await http.get(path, headers=headers)

    return asyncio.run(call())


def secret_headers() -> dict[str, str]:
    return {
        "Authorization": f"Bearer {BEARER}",
        "X-Api-Key": API_KEY,
        "Cookie": f"sessionid={SESSION}; csrftoken=csrf-secret-value",
        "Accept": "text/html",
    }


def secrets_in(body: str) -> list[str]:
    secrets = [BEARER, API_KEY, SESSION, "csrf-secret-value", QUERY_TOKEN, DB_PASSWORD]
    secrets += [django_settings.ADMIN_DATABASE_URL, django_settings.REDIS_URL, str(django_settings.STATE_DIR)]
    return [secret for secret in secrets if secret in body]


@pytest.mark.parametrize("path", ["/test-only/explode", "/test-only/explode-holding-secrets"])
def test_the_local_debug_page_keeps_its_details_but_masks_every_secret(debug, path):
    response = get(f"{path}?token={QUERY_TOKEN}&symbol=BTC", LOCAL, **secret_headers())
    body = response.text
    assert response.status_code == 500
    assert "Traceback" in body and "RuntimeError" in body  # still the technical page
    assert "asgi.scope" in body and "symbol=BTC" in body  # the scope and harmless values are still shown
    assert secrets_in(body) == []


def test_a_client_not_on_loopback_gets_the_plain_error_page(debug):
    response = get(f"/test-only/explode-holding-secrets?token={QUERY_TOKEN}", OUTSIDER, **secret_headers())
    assert response.status_code == 500
    assert "<h1>Server Error (500)</h1>" in response.text  # Django's plain page, as production serves it
    assert "Traceback" not in response.text and "RuntimeError" not in response.text
    assert secrets_in(response.text) == [] and "db.internal" not in response.text


def test_the_log_line_of_the_failure_holds_no_secret_either(debug, caplog):
    # The development console renderer printed each frame's local variables (rich's default) into the log.
    get("/test-only/explode-holding-secrets", LOCAL, **secret_headers())
    record = next(record for record in caplog.records if record.name == "django.request" and record.exc_info)
    formatter = next(
        handler.formatter
        for handler in logging.getLogger().handlers
        if isinstance(handler.formatter, structlog.stdlib.ProcessorFormatter)
    )
    logged = formatter.format(record)
    assert "could not use" in logged and "explode_holding_secrets" in logged  # the failure, with its traceback
    assert [secret for secret in (BEARER, DB_PASSWORD, SESSION) if secret in logged] == []


def test_a_client_not_on_loopback_gets_no_details_without_html_either(debug):
    response = get("/test-only/explode", OUTSIDER, **{**secret_headers(), "Accept": "application/json"})
    assert (response.status_code, response.text) == (500, "Server Error (500)")


def test_a_suspicious_request_from_outside_gets_the_plain_400(debug):
    response = get("/test-only/suspicious", OUTSIDER, Accept="text/html")
    assert response.status_code == 400
    assert "a crafted request" not in response.text and "Traceback" not in response.text
    local = get("/test-only/suspicious", LOCAL, Accept="text/html")
    assert local.status_code == 400 and "a crafted request" in local.text


def test_the_url_pattern_listing_of_a_404_is_for_local_clients_only(debug):
    outside = get("/no-such-page", OUTSIDER, Accept="text/html")
    assert outside.status_code == 404
    assert "URLconf" not in outside.text and "api/v1/" not in outside.text
    local = get("/no-such-page", LOCAL, Accept="text/html")
    assert local.status_code == 404 and "api/v1/" in local.text
    # The API's own 404s are JSON answers, untouched.
    api = get("/api/v1/ml/models/999999", OUTSIDER, **{"Authorization": "Bearer x", "Accept": "application/json"})
    assert api.headers["content-type"].startswith("application/json")


def test_error_reports_mask_secrets_without_debug_as_well():
    # The admins' error e-mails and Sentry-less logs use the same filter with DEBUG off.
    import sys

    from django.test import RequestFactory
    from django.views.debug import get_exception_reporter_class

    request = RequestFactory().get(
        f"/x?token={QUERY_TOKEN}", HTTP_AUTHORIZATION=f"Bearer {BEARER}", HTTP_X_API_KEY=API_KEY
    )
    request.META["asgi.scope"] = {"type": "http", "headers": [(b"authorization", f"Bearer {BEARER}".encode())]}
    connection = f"redis://:{DB_PASSWORD}@cache.internal:6379/0"  # a frame variable the filter must mask
    try:
        raise RuntimeError(f"cannot reach {connection.split('@')[1]}")
    except RuntimeError:
        report = get_exception_reporter_class(request)(request, *sys.exc_info(), is_email=True).get_traceback_text()
    assert "Traceback" in report
    assert [secret for secret in (BEARER, API_KEY, QUERY_TOKEN, DB_PASSWORD) if secret in report] == []


def test_sentry_reports_mask_what_the_failing_frames_held():
    # Sentry sends every frame's local variables; its own scrubber masked only top-level names it knows, and
    # kept a connection string with its password, the headers' Cookie and the request's `?token=` (found by
    # tests/security/test_secret_leaks.py). The event is built by sentry_sdk itself from a real failure.
    import json
    import sys

    from django.test import RequestFactory
    from sentry_sdk.utils import event_from_exception

    from dsta.kernel.error_reports import scrub_sentry_event

    def failing_view(request):  # type: ignore[no-untyped-def]
        connection = f"postgres://dsta_admin:{DB_PASSWORD}@db.internal:5432/dsta"
        headers = dict(request.headers)
        raise RuntimeError(f"could not use {len(connection)} {len(headers)} {request.get_full_path()}")

    request = RequestFactory().get(
        f"/x?token={QUERY_TOKEN}&symbol=BTC", HTTP_AUTHORIZATION=f"Bearer {BEARER}", HTTP_COOKIE=f"sessionid={SESSION}"
    )
    try:
        failing_view(request)
    except RuntimeError:
        event, hint = event_from_exception(
            sys.exc_info(),
            client_options={"include_local_variables": True, "include_source_context": False, "max_value_length": 1024},
        )
    event["request"] = {"query_string": f"token={QUERY_TOKEN}&symbol=BTC", "url": "http://testserver/x"}
    raw = json.dumps(event, default=str)
    assert DB_PASSWORD in raw and SESSION in raw and QUERY_TOKEN in raw  # what Sentry would have sent
    sent = json.dumps(scrub_sentry_event(event, hint), default=str)
    assert [secret for secret in (BEARER, DB_PASSWORD, SESSION, QUERY_TOKEN) if secret in sent] == []
    assert "postgres://[Filtered]@db.internal" in sent and "symbol=BTC" in sent and "failing_view" in sent
