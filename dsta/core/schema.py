"""OpenAPI security schemes for core's authenticators (so Swagger UI offers Bearer and API-key login), and the
schema class that states each operation's API-key scope."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

from dsta.core.contracts import PUBLIC, SESSIONS_ONLY
from dsta.core.drf import required_scope


class JWTScheme(OpenApiAuthenticationExtension):  # type: ignore[misc]
    target_class = "dsta.core.drf.JWTAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class ApiKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[misc]
    target_class = "dsta.core.drf.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "X-API-Key"}


class SessionScheme(OpenApiAuthenticationExtension):  # type: ignore[misc]
    target_class = "dsta.core.drf.SessionPrincipalAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


class ScopedAutoSchema(AutoSchema):  # type: ignore[misc]
    """drf-spectacular's schema, plus the scope an API key needs for the operation (`x-api-key-scope`, and a line
    of its description), read from the view as RBACPermission reads it."""

    def _scope(self) -> str | None:
        return required_scope(self.view, self.method.upper())

    def get_description(self) -> str:
        scope = self._scope()
        if scope in (None, PUBLIC):
            return str(super().get_description())
        line = "API keys: not accepted." if scope == SESSIONS_ONLY else f"API-key scope: `{scope}`."
        description = super().get_description()
        return f"{description}\n\n{line}" if description else line

    def get_extensions(self) -> dict[str, Any]:
        scope = self._scope()
        extensions: dict[str, Any] = dict(super().get_extensions())
        if scope not in (None, PUBLIC):
            extensions["x-api-key-scope"] = None if scope == SESSIONS_ONLY else scope
        return extensions
