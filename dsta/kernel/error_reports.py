"""What an error page may show (settings.DEFAULT_EXCEPTION_REPORTER_FILTER, DEFAULT_EXCEPTION_REPORTER and the
`plain_debug_404` middleware).

With DEBUG on, Django's error pages list the settings, the request's headers and cookies, the WSGI environ
(which holds the raw ASGI scope, `asgi.scope`, from a2wsgi) and every frame's local variables. Django's own
filter misses URLs with credentials (the admin DATABASE_URL, REDIS_URL), paths, and header pairs inside the
scope. `SecretsFilter` masks those wherever they appear, in DEBUG too; `LocalOnlyExceptionReporter` and
`plain_debug_404` give the detailed pages only to a client on the loopback address, and anyone else the plain
page production serves. `scrub_sentry_event` applies the same rules to what Sentry sends.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.conf import settings
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotFound
from django.utils.safestring import SafeString
from django.views import defaults
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

# Names (settings, request META, dict keys, cookies, query parameters, frame variables) whose values are hidden.
SENSITIVE_NAMES = re.compile(
    r"API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|COOKIE|CREDENTIAL|SESSION|CSRF|DSN|PRIVATE", flags=re.I
)
# Settings hidden whole as well: connection strings (credentials, internal hosts) and filesystem paths.
SENSITIVE_SETTINGS = re.compile(
    r"URL|DATABASE|REDIS|RABBIT|BROKER|CACHES|CHANNEL_LAYERS|STORAGES|(^|_)(DIRS?|ROOT|PATHS?)$", flags=re.I
)
# Header names as they travel in an ASGI scope or a list of header pairs.
SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-csrftoken",
        "sec-websocket-protocol",
    }
)
URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)[^/@\s'\"]+@", flags=re.I)
QUERY_STRING_NAMES = frozenset({"QUERY_STRING", "query_string"})
MASK = SafeExceptionReporterFilter.cleansed_substitute


def _is_sensitive_header(value: object) -> bool:
    if not isinstance(value, tuple | list) or len(value) != 2:
        return False
    name = value[0]
    if isinstance(name, bytes):
        name = name.decode("latin1")
    return isinstance(name, str) and name.lower() in SENSITIVE_HEADERS


def _mask_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(name, MASK if SENSITIVE_NAMES.search(name) else value) for name, value in pairs])


def _mask_text(key: object, value: str | bytes) -> str | bytes:
    if isinstance(value, bytes):
        masked = _mask_text(key, value.decode("latin1"))
        return masked.encode("latin1") if isinstance(masked, str) else masked
    if key in QUERY_STRING_NAMES:
        value = _mask_query(value)
    return URL_CREDENTIALS.sub(lambda match: f"{match['scheme']}{MASK}@", value)


class SecretsFilter(SafeExceptionReporterFilter):
    """Django's filter, plus: URLs with credentials, paths and connection settings, header pairs (the ASGI
    scope's `authorization`, `cookie`, `x-api-key`) and sensitive query parameters are masked in settings,
    request META and frame variables alike, and in DEBUG as well (Django's own stops at DEBUG)."""

    hidden_settings = SENSITIVE_NAMES

    def is_active(self, request: HttpRequest | None) -> bool:
        return True  # sensitive_variables / sensitive_post_parameters hold in DEBUG too

    def get_safe_settings(self) -> dict[str, Any]:
        return {
            name: MASK if SENSITIVE_SETTINGS.search(name) else self.cleanse_setting(name, getattr(settings, name))
            for name in dir(settings)
            if name.isupper()
        }

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        if _is_sensitive_header(value):
            return (value[0], MASK)
        if isinstance(value, HttpRequest):  # its repr is the full path, query string included
            path, _, query = value.get_full_path().partition("?")
            return f"<{type(value).__name__}: {value.method} {path}{'?' + _mask_query(query) if query else ''}>"
        try:
            if isinstance(value, Mapping) and not isinstance(value, dict):  # request.headers and the like
                value = dict(value)
        except Exception:  # a lazy object that cannot be evaluated here: shown as it is  # noqa: BLE001
            return value
        cleansed = super().cleanse_setting(key, value)
        if isinstance(cleansed, str | bytes) and cleansed != MASK:
            cleansed = _mask_text(key, cleansed)
        return cleansed

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: Any) -> Any:
        return [
            (name, value if value == MASK else self.cleanse_setting(name, value))
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]


def client_is_local(request: HttpRequest | None) -> bool:
    """Is the client on this machine (127.0.0.1, ::1)? REMOTE_ADDR is the peer's address (a proxy's header is
    believed only from DSTA_TRUSTED_PROXIES, see dsta/asgi.py)."""
    if request is None:
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


class LocalOnlyExceptionReporter(ExceptionReporter):
    """Django's technical 500 (and 400) page for a client on the loopback address; anyone else gets the plain
    page production serves. Error e-mails to the admins keep the details (through SecretsFilter)."""

    def _for_outsider(self) -> bool:
        return not self.is_email and self.request is not None and not client_is_local(self.request)

    def _bad_request(self) -> bool:
        return self.exc_type is not None and issubclass(self.exc_type, SuspiciousOperation | BadRequest)

    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        if data.get("request_insecure_uri"):  # "Request URL", query string included
            address, _, query = str(data["request_insecure_uri"]).partition("?")
            data["request_insecure_uri"] = f"{address}?{_mask_query(query)}" if query else address
        if "request_GET_items" in data:
            data["request_GET_items"] = [
                (name, MASK if SENSITIVE_NAMES.search(name) else value) for name, value in data["request_GET_items"]
            ]
        return data

    def get_traceback_html(self) -> SafeString:
        if not self._for_outsider():
            return super().get_traceback_html()
        assert self.request is not None
        page: HttpResponse
        if self._bad_request():
            page = defaults.bad_request(self.request, BadRequest())
        else:
            page = defaults.server_error(self.request)
        # Django's own plain page, already rendered (and escaped) by its template engine.
        return SafeString(page.content.decode())  # nosec B703

    def get_traceback_text(self) -> SafeString:
        if not self._for_outsider():
            return super().get_traceback_text()
        return SafeString("Bad Request (400)" if self._bad_request() else "Server Error (500)")  # nosec B703


def plain_debug_404(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """With DEBUG on, Django answers a missing page with every URL pattern of the project; a client that is not
    on the loopback address gets the plain 404 page instead. (DRF's 404s are JSON responses, left alone.)"""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if (
            settings.DEBUG
            and type(response) is HttpResponseNotFound  # what technical_404_response builds
            and not client_is_local(request)
        ):
            return defaults.page_not_found(request, Http404())
        return response

    return middleware


# -- Sentry ---------------------------------------------------------------------------------------------------------

SENTRY_MASK = "[Filtered]"
# `name=value` pairs of a query string inside any text (a request's repr, a URL in a message).
_QUERY_PAIR = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;#\s'\"<>]+)=(?P<value>[^&;#\s'\"<>]*)")
_BEARER = re.compile(r"\b(?P<scheme>Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{8,}", flags=re.I)


def _sensitive_key(key: object) -> bool:
    return isinstance(key, str) and (SENSITIVE_NAMES.search(key) is not None or key.lower() in SENSITIVE_HEADERS)


def _scrub_text(text: str) -> str:
    text = URL_CREDENTIALS.sub(lambda match: f"{match['scheme']}{SENTRY_MASK}@", text)
    text = _QUERY_PAIR.sub(
        lambda match: (
            f"{match['lead']}{match['name']}={SENTRY_MASK}" if SENSITIVE_NAMES.search(match["name"]) else match[0]
        ),
        text,
    )
    return _BEARER.sub(lambda match: f"{match['scheme']} {SENTRY_MASK}", text)


def _scrub(value: Any, key: object = None) -> Any:
    if isinstance(value, dict):
        return {
            name: SENTRY_MASK if _sensitive_key(name) and item not in (None, "") else _scrub(item, name)
            for name, item in value.items()
        }
    if isinstance(value, list | tuple):
        if _is_sensitive_header(value):
            return [value[0], SENTRY_MASK]
        return [_scrub(item) for item in value]
    if isinstance(value, str):
        if key in QUERY_STRING_NAMES and value:
            return _scrub_text(f"?{value}")[1:]  # a query string without its `?`
        return _scrub_text(value)
    return value


def scrub_sentry_event(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Sentry's `before_send`: the rules of SecretsFilter over the whole event. Sentry's own scrubber masks
    top-level keys it knows (`authorization`, `password`) but kept what a failing view held in its frames: a
    connection string with its password, `request.headers` with the Cookie, the request's repr with `?token=`."""
    scrubbed = {name: value if name in _SENTRY_OWN else _scrub(value, name) for name, value in event.items()}
    sampling = event.get("contexts", {}).get("trace", {}).get("dynamic_sampling_context")
    if sampling is not None:  # the envelope's routing header (its `public_key` is the DSN's), kept as it is
        scrubbed["contexts"]["trace"]["dynamic_sampling_context"] = sampling
    return scrubbed


_SENTRY_OWN = frozenset({"sdk", "modules", "event_id", "timestamp", "platform", "level", "release", "environment"})
