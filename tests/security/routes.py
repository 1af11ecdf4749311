"""Every HTTP route of the project, with its path parameters filled in, for attacks tried on all of them."""

from __future__ import annotations

import re

from django.urls import URLPattern, URLResolver, get_resolver

PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def _walk(patterns: list, prefix: str = "") -> list[str]:
    routes: list[str] = []
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            routes.extend(_walk(entry.url_patterns, route))
        elif isinstance(entry, URLPattern):
            routes.append(route)
    return routes


def project_routes() -> list[str]:
    """URL templates (e.g. `api/v1/config/<str:key>`) of every route, admin's own pages aside."""
    return sorted({route.lstrip("^").rstrip("$") for route in _walk(get_resolver().url_patterns)} - {""})


def api_routes() -> list[str]:
    return [route for route in project_routes() if route.startswith("api/") and "\\\\" not in route]


def fill(route: str, *, text: str, number: str = "1") -> str:
    """`route` with each parameter replaced: `text` for strings and paths, `number` for ints."""

    def value(match: re.Match[str]) -> str:
        return number if match.group("converter") == "int" else text

    return "/" + PARAMETER.sub(value, route)
