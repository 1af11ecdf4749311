"""Input that no route can take, refused before any view runs: one place for every route of every domain.

A NUL byte in the path, a query parameter or a form field is a 400 here (Postgres cannot store one in text, so it
used to surface as a DataError, a 500). JSON bodies get the same treatment in `dsta.core.drf.StrictJSONParser`.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

NUL = "\x00"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _first_bad_part(request: HttpRequest) -> str | None:
    if NUL in request.path:
        return "path"
    for name, values in request.GET.lists():
        if NUL in name or any(NUL in value for value in values):
            return "query"
    if request.method == "POST" and request.content_type in FORM_TYPES:
        for name, values in request.POST.lists():
            if NUL in name or any(NUL in value for value in values):
                return "form"
    return None


def reject_malformed_input(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[..., HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        part = _first_bad_part(request)
        if part is not None:
            return JsonResponse({"detail": f"The request {part} contains a NUL character.", "part": part}, status=400)
        return get_response(request)

    return middleware
