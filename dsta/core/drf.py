"""DRF wiring of core's auth, made the project default in settings.REST_FRAMEWORK so every endpoint of every
domain goes through it. A view declares what it needs:

    required_permission = "trading.order.create"                      # every method
    required_permission = {"GET": "config.read", "PUT": "config.write"}  # per method
    required_permission = PUBLIC | AUTHENTICATED                       # from dsta.core.contracts

A view that declares nothing (or not for the method used) is refused to everyone: endpoints fail closed.

An API key is narrowed further by its scopes: the request needs the view's scope, and one of the key's scope
patterns must name it. A permission is its own scope; a view whose permission is AUTHENTICATED names one:

    required_scope = {"GET": "account.read", "PUT": "account.write"}  # str or per method, like the permission
    required_scope = SESSIONS_ONLY                                       # no API key, whatever its scopes

A view that names no scope takes no API key (token and browser sessions keep their role checks), and
tests/security/test_scopes.py fails for any route of the URLconf whose methods have none.
"""

from __future__ import annotations

import json
from typing import IO, Any

import structlog
from django.db import DataError
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed, ParseError
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from dsta.core import api, auth
from dsta.core.contracts import AUTHENTICATED, SESSIONS_ONLY, Principal
from dsta.kernel.errors import InputError


class JWTAuthentication(BaseAuthentication):
    """`Authorization: Bearer <access token>`."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Principal] | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme != self.keyword or not token:
            return None
        try:
            return auth.access_token_authenticate(token=token.strip())
        except auth.AuthError as exc:
            raise AuthenticationFailed(str(exc), code=exc.code) from None

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: ApiKey <key>` or `X-API-Key: <key>`."""

    def authenticate(self, request: Request) -> tuple[Any, Principal] | None:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        key = key.strip() if scheme == "ApiKey" else request.headers.get("X-API-Key", "").strip()
        if not key:
            return None
        try:
            return auth.api_key_authenticate(key=key)
        except auth.AuthError as exc:
            raise AuthenticationFailed(str(exc), code=exc.code) from None


class SessionPrincipalAuthentication(SessionAuthentication):
    """The admin's browser session (Swagger UI, browsable API), with the same roles as a token would carry."""

    def authenticate(self, request: Request) -> tuple[Any, Principal] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        return user, auth.principal_for(user, auth_method="session", token_id="")


def required_permission(view: Any, method: str) -> str | None:
    declared = getattr(view, "required_permission", None)
    if isinstance(declared, dict):
        return declared.get("GET" if method == "HEAD" else method)
    return declared if isinstance(declared, str) else None


def required_scope(view: Any, method: str) -> str | None:
    """The scope an API key needs for `method` on `view`: the declared `required_scope`, else the permission
    (a permission is its own scope); None where neither names one (an AUTHENTICATED view without a scope)."""
    declared = getattr(view, "required_scope", None)
    if isinstance(declared, dict):
        return declared.get("GET" if method == "HEAD" else method)
    if isinstance(declared, str):
        return declared
    permission = required_permission(view, method)
    return None if permission == AUTHENTICATED else permission


def request_principal(request: Request) -> Principal | None:
    if isinstance(request.auth, Principal):
        return request.auth
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:  # e.g. APIClient.force_authenticate in tests
        return auth.principal_for(user, auth_method="session", token_id="")
    return None


class RBACPermission(BasePermission):
    """The one permission class of the API: the view's declared permission, checked by core's facade, and for
    an API key the view's scope as well."""

    message = "You do not have permission to perform this action."

    def has_permission(self, request: Request, view: Any) -> bool:
        method = request.method or "GET"
        needed = required_permission(view, method)
        if needed is None:
            return False
        principal = request_principal(request)
        if principal is not None:  # every log line (and event) of the rest of the request names the caller
            structlog.contextvars.bind_contextvars(user_id=principal.user_id)
        scope = required_scope(view, method)
        if not auth.scope_granted(principal, scope):
            self.message = (
                f"This API key's scopes do not include {scope}."
                if scope not in (None, SESSIONS_ONLY)
                else "This endpoint does not accept API keys; sign in with a token."
            )
            return False
        return api.permission_check(principal=principal, permission=needed)


class ApiDocsPermission(BasePermission):
    """The API documents (OpenAPI schema, Swagger UI, AsyncAPI): anyone when settings.DSTA_API_DOCS_PUBLIC (the
    debug default), else any signed-in caller; the map of every route is no business of an anonymous client."""

    def has_permission(self, request: Request, view: Any) -> bool:
        from django.conf import settings

        if settings.DSTA_API_DOCS_PUBLIC:
            return True
        return api.permission_check(principal=request_principal(request), permission=AUTHENTICATED)


# Input every endpoint shares ----------------------------------------------------------------------------------

MAX_JSON_DEPTH = 32  # far beyond any request body of the API, far below Python's recursion limit


def _check_json_value(value: object) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH and NUL characters (Postgres refuses them in text and jsonb).
    Iterative, so the check itself cannot overflow the stack."""
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ParseError("JSON strings must not contain NUL characters.")
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ParseError(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels.")
            if isinstance(item, dict):
                pending.extend((key, depth) for key in item)
                pending.extend((child, depth + 1) for child in item.values())
            else:
                pending.extend((child, depth + 1) for child in item)


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


class StrictJSONParser(JSONParser):
    """The project's one JSON parser (settings.REST_FRAMEWORK): malformed, too deep or NUL-bearing bodies are a
    400 with a message, whatever the endpoint; before, deep nesting raised RecursionError (a 500)."""

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context: Any = None) -> Any:
        raw = stream.read() if stream is not None else b""
        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except RecursionError:
            raise ParseError(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels.") from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        _check_json_value(data)
        return data


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus: any domain's InputError is its status (400, 409 for a conflict) with the field errors
    as the body, so views never catch them; input the database refuses (a value out of range, a NUL that slipped
    past) is the caller's error, a 400, never a 500; a served domain's failure is the kernel's 503 or 502."""
    from dsta.kernel.rpc import drf as rpc_drf  # loads DRF's views, which load this module: imported late

    if isinstance(exc, InputError):
        return Response(exc.errors, status=exc.status_code)
    if isinstance(exc, DataError):
        return Response({"detail": "A value in the request is out of range or malformed."}, status=400)
    return rpc_drf.exception_handler(exc, context)
