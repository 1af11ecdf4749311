"""The Content-Security-Policy of every response (Django 5.2 has none built in; SecurityMiddleware sets the rest).

The policy is `settings.DSTA_CSP` (see settings.py; "" turns it off). The web app, the admin and Swagger UI
load only their own scripts, so an injected `<script>` or `onerror=` never runs. `frame-ancestors` says what
the response's X-Frame-Options says (set below this middleware): 'none' for DENY, 'self' where a view allows
same-origin framing (the backtest report in its page), since a browser that reads the CSP ignores the other
header. A response that set its own policy keeps it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def content_security_policy(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[..., HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if settings.DSTA_CSP and "Content-Security-Policy" not in response:
            framing = "'self'" if response.get("X-Frame-Options", "DENY").upper() == "SAMEORIGIN" else "'none'"
            response["Content-Security-Policy"] = f"{settings.DSTA_CSP}; frame-ancestors {framing}"
        return response

    return middleware
