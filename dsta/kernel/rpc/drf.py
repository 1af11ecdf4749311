"""REST answers for a served domain's failures that reach a view uncaught: 503 with Retry-After while the
service cannot be reached (the client may retry the same request), 502 for an undeclared remote failure; both
name the remote request id. Everything else goes to DRF's own handler."""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from dsta.kernel.rpc.errors import RemoteDomainError, RemoteUnavailable

RETRY_AFTER_SECONDS = 1


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RemoteUnavailable):
        body = {"detail": f"the {exc.domain} service is unavailable; retry the request", "request_id": exc.request_id}
        return Response(body, status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if isinstance(exc, RemoteDomainError):
        return Response({"detail": f"the {exc.domain} service failed", "request_id": exc.request_id}, status=502)
    return drf_exception_handler(exc, context)
