"""Issue 20.5: crafted input is a 400 with a message on every route, never a 500 (RecursionError, DataError)."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from dsta.core.tests.factories import access_token_for, bearer, user_with_role
from tests.security.routes import api_routes, fill

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> APIClient:
    client = APIClient()
    client.credentials(**bearer(access_token_for(user_with_role("admin"))))
    return client


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_deeply_nested_json_is_a_400_even_anonymous():
    response = APIClient().post("/api/v1/auth/login", data="[" * 50_000, content_type="application/json")
    assert response.status_code == 400
    assert "nested deeper than" in response.json()["detail"]


def test_a_thousand_levels_of_preferences_are_a_400(admin_client):
    body = '{"preferences": {"theme": ' + nested(1_000) + "}}"
    response = admin_client.put("/api/v1/users/preferences", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "nested deeper than 32 levels" in response.json()["detail"]
    # Reasonable nesting still works: the limit is far above what any endpoint needs.
    fine = admin_client.put("/api/v1/users/preferences", {"preferences": {"layout": {"a": [[1]]}}}, format="json")
    assert fine.status_code == 200, fine.content


def test_nul_characters_in_json_bodies_are_a_400(admin_client):
    for body in ({"preferences": {"theme": "dark\u0000"}}, {"preferences": {"k\u0000": 1}}):
        response = admin_client.put("/api/v1/users/preferences", data=json.dumps(body), content_type="application/json")
        assert response.status_code == 400, body
        assert "NUL" in response.json()["detail"]


@pytest.mark.parametrize("route", ["auth/login", "users/preferences", "config/ui.theme", "orders", "backtest/run"])
def test_malformed_json_on_write_routes_is_a_400(admin_client, route):
    method = admin_client.put if route in ("users/preferences", "config/ui.theme") else admin_client.post
    for body in ("[" * 50_000, '{"a": NaN}', b"\xff\xfe"):
        response = method(f"/api/v1/{route}", data=body, content_type="application/json")
        assert response.status_code == 400, (route, body[:10], response.content[:200])


def test_a_nul_byte_in_any_path_or_query_parameter_is_a_400(admin_client):
    routes = api_routes()
    assert len(routes) > 60  # the walk found the whole API, not a few routes
    answers = {}
    for route in routes:
        urls = {fill(route, text="x") + "?limit=%00", fill(route, text="x") + "?a%00=1"}
        if "%00" in fill(route, text="x%00"):
            urls.add(fill(route, text="x%00"))
        answers.update({url: admin_client.get(url).status_code for url in urls})
    assert {url: code for url, code in answers.items() if code != 400} == {}
