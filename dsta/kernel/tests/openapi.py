"""The served OpenAPI schema as a test oracle: a Django test client whose every /api/ answer is checked against
the response schema the operation documents for its status code (schemathesis's response conformance), so the
endpoint tests of a domain also prove that its schema tells the truth. Statuses the operation does not document
(most 4xx) and non-JSON bodies are not checked."""

from __future__ import annotations

import functools
import http.client
import json
from typing import Any

import requests
from django.test import Client


@functools.cache
def _schema() -> Any:
    import schemathesis
    from drf_spectacular.generators import SchemaGenerator
    from rest_framework.utils.encoders import JSONEncoder

    document = SchemaGenerator().get_schema(request=None, public=True)
    return schemathesis.openapi.from_dict(json.loads(json.dumps(document, cls=JSONEncoder)))


def assert_conforms(response: Any) -> None:
    """Raise (schemathesis's FailureGroup, naming each mismatch) when `response` breaks its documented schema."""
    from schemathesis.core.transport import Response

    method, path = response.request["REQUEST_METHOD"], response.request["PATH_INFO"]
    if not path.startswith("/api/v1/") or "json" not in response.get("Content-Type", ""):
        return
    operation = _schema().find_operation_by_path(method, path)
    assert operation is not None, f"{method} {path} answered but is not in the OpenAPI schema"
    prepared = requests.Request(method=method, url=f"http://testserver{path}").prepare()
    operation.validate_response(
        Response(
            status_code=response.status_code,
            headers={name.lower(): [value] for name, value in response.headers.items()},
            content=response.content,
            request=prepared,
            elapsed=0.0,
            verify=False,
            message=http.client.responses.get(response.status_code, ""),
        )
    )


class ConformingClient(Client):
    """django.test.Client, checking each JSON answer of the API against the OpenAPI schema."""

    def request(self, **request: Any) -> Any:  # type: ignore[override]
        response = super().request(**request)
        assert_conforms(response)
        return response
