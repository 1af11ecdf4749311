"""Issue 20.13 (headers, API documents): a Content-Security-Policy on every response and pages that live with it;
HSTS (subdomains, preload), the redirect to https (not for the probes) and secure-only cookies with DSTA_DEBUG=0;
the OpenAPI schema, Swagger UI and the AsyncAPI document for signed-in callers only when DSTA_DEBUG=0 (public in
debug)."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.test import Client
from rest_framework.test import APIClient

from dsta.core.tests.factories import access_token_for, bearer, user_with_role
from dsta.domains import DOMAINS
from tests import web_seed

ROOT = Path(__file__).resolve().parents[2]
ALL = [domain.alias for domain in DOMAINS]
DOCUMENTS = ["/api/schema/", "/api/schema/swagger-ui/", "/api/schema/swagger-ui/?script", "/api/schema/asyncapi.json"]
PAGES = ["/", "/chart/", "/backtests/", "/models/", "/notifications/", "/bots/"]
ANONYMOUS_PAGES = ["/login/", "/admin/login/", "/api/schema/swagger-ui/"]
PLAIN = ("/login/", "/api/v1/auth/validate")  # asked for over plain http too

PROBE = """
import json, sys, django
django.setup()
from django.conf import settings
from django.test import Client
names = ["DEBUG", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
         "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_CONTENT_TYPE_NOSNIFF",
         "DSTA_API_DOCS_PUBLIC"]
seen = {"settings": {name: getattr(settings, name) for name in names}, "responses": {}, "plain_http": {}}
for path in ["/login/", *json.loads(sys.argv[1])]:
    response = Client().get(path, secure=True)
    seen["responses"][path] = {
        "status": response.status_code,
        "headers": dict(response.headers),
        "secure_cookies": {name: bool(morsel["secure"]) for name, morsel in response.cookies.items()},
    }
for path in json.loads(sys.argv[2]):
    response = Client().get(path, **json.loads(sys.argv[3]))  # over plain http, with the headers given
    seen["plain_http"][path] = [response.status_code, response.get("Location")]
print(json.dumps(seen))
"""


def started_with(
    tmp_path: Path, debug: str, headers: dict[str, str] | None = None, plain: tuple[str, ...] = PLAIN, **variables: str
) -> dict:
    """The project as a fresh process with DSTA_DEBUG=`debug` (real keys given, as production must) and
    `variables`; it also asks for the `plain` paths over plain http, with `headers`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("DSTA_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="dsta.settings",
        DSTA_DEBUG=debug,
        DSTA_STATE_DIR=str(tmp_path / f"state-{debug}"),
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DSTA_JWT_SIGNING_KEY=secrets.token_urlsafe(48),
        DSTA_FERNET_KEYS=Fernet.generate_key().decode(),
        DSTA_LOG_LEVEL="WARNING",
        **variables,
    )
    argv = [sys.executable, "-c", PROBE, json.dumps(DOCUMENTS), json.dumps(plain), json.dumps(headers or {})]
    run = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_production_sets_hsts_secure_cookies_csp_and_keeps_the_api_documents_private(tmp_path):
    production = started_with(tmp_path, "0", plain=(*PLAIN, "/healthz", "/readyz", "/metrics"))
    assert production["settings"] == {
        "DEBUG": False,
        "SECURE_HSTS_SECONDS": 365 * 24 * 3600,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "DSTA_API_DOCS_PUBLIC": False,
    }
    login = production["responses"]["/login/"]
    assert login["status"] == 200
    assert login["headers"]["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert login["headers"]["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in login["headers"]["Content-Security-Policy"]
    assert login["secure_cookies"] == {"csrftoken": True}
    for path in DOCUMENTS:
        assert production["responses"][path]["status"] == 401, path
    # Plain http is sent to https; the probes answer over it (load balancers, health checks, Prometheus).
    assert production["plain_http"]["/login/"] == [301, "https://testserver/login/"]
    assert production["plain_http"]["/api/v1/auth/validate"] == [301, "https://testserver/api/v1/auth/validate"]
    assert production["plain_http"]["/healthz"][0] == 200
    assert production["plain_http"]["/readyz"][0] in (200, 503)  # not redirected, ready or not
    assert production["plain_http"]["/metrics"][0] == 200


def test_production_behind_a_tls_proxy_takes_its_header_and_can_leave_it_the_redirect(tmp_path):
    proxied = started_with(
        tmp_path, "0", {"HTTP_X_FORWARDED_PROTO": "https"}, DSTA_PROXY_SSL_HEADER="X-Forwarded-Proto"
    )
    assert proxied["plain_http"]["/login/"][0] == 200  # the proxy says it came over https: no redirect
    assert proxied["plain_http"]["/api/v1/auth/validate"][0] == 401
    spoofed = started_with(tmp_path, "0", {"HTTP_X_FORWARDED_PROTO": "https"})  # no proxy configured: not trusted
    assert spoofed["plain_http"]["/login/"] == [301, "https://testserver/login/"]
    redirecting_proxy = started_with(
        tmp_path, "0", DSTA_SSL_REDIRECT="0", DSTA_HSTS_INCLUDE_SUBDOMAINS="0", DSTA_HSTS_PRELOAD="0"
    )
    assert redirecting_proxy["settings"]["SECURE_SSL_REDIRECT"] is False
    assert redirecting_proxy["plain_http"]["/login/"][0] == 200
    hsts = redirecting_proxy["responses"]["/login/"]["headers"]["Strict-Transport-Security"]
    assert hsts == "max-age=31536000"


def test_debug_keeps_plain_http_working_and_the_api_documents_public(tmp_path):
    debug = started_with(tmp_path, "1")
    assert debug["settings"]["SECURE_HSTS_SECONDS"] == 0 and debug["settings"]["SECURE_SSL_REDIRECT"] is False
    assert debug["plain_http"]["/login/"][0] == 200
    assert debug["settings"]["SESSION_COOKIE_SECURE"] is False and debug["settings"]["CSRF_COOKIE_SECURE"] is False
    login = debug["responses"]["/login/"]
    assert "Strict-Transport-Security" not in login["headers"] and login["secure_cookies"] == {"csrftoken": False}
    assert "script-src 'self'" in login["headers"]["Content-Security-Policy"]  # the CSP holds in every mode
    for path in DOCUMENTS:
        assert debug["responses"][path]["status"] == 200, path


@pytest.mark.django_db(databases=ALL)
def test_private_api_documents_answer_a_signed_in_caller_only(settings):
    settings.DSTA_API_DOCS_PUBLIC = False
    for path in DOCUMENTS:
        assert APIClient().get(path).status_code == 401, path
    viewer = APIClient()
    viewer.credentials(**bearer(access_token_for(user_with_role("viewer"))))
    browser = Client()
    browser.force_login(user_with_role("viewer"))  # Swagger UI in a browser signed in to the web app
    for client in (viewer, browser):
        schema = client.get("/api/schema/")
        assert schema.status_code == 200 and b"/api/v1/market-data/series" in schema.content
        assert client.get("/api/schema/swagger-ui/").status_code == 200
        assert client.get("/api/schema/asyncapi.json").json()["asyncapi"] == "3.0.0"


INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(rb"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


@pytest.mark.django_db(databases=ALL)
def test_every_page_has_the_policy_and_nothing_inline_it_would_block(tmp_path):
    web_seed.seed_candles(tmp_path, rows=60)  # the chart page with its market picker and chart script
    browser = Client()
    anonymous = [(path, browser.get(path)) for path in ANONYMOUS_PAGES]
    browser.force_login(user_with_role("admin"))
    pages = [(path, browser.get(path)) for path in PAGES] + anonymous
    assert b"data-autosubmit" in dict(pages)["/chart/"].content
    for path, response in pages:
        assert response.status_code == 200, path
        policy = response["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "'unsafe-eval'" not in policy, path
        assert policy.endswith("frame-ancestors 'none'"), path
        assert not INLINE_SCRIPT.search(response.content), (path, INLINE_SCRIPT.search(response.content))
        assert not INLINE_HANDLER.search(response.content), (path, INLINE_HANDLER.search(response.content))
    api = APIClient().get("/api/v1/auth/validate")
    assert api.status_code == 401 and "default-src 'self'" in api["Content-Security-Policy"]
