"""Issue 20.11: an API key reaches only what its scopes name, on every endpoint of every domain.

Before, scopes were checked against role permissions only, so a `market_data.read` key could read the
profile and the audit log (with addresses) and rewrite preferences: those views need no permission beyond
being signed in. Now every (route, method) names a scope (a permission is its own scope), a view that names
none takes no API key, and token sessions keep their role checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from dsta.core import audit, auth
from dsta.core.contracts import AUTHENTICATED, PUBLIC, SESSIONS_ONLY
from dsta.core.drf import RBACPermission, required_scope
from dsta.core.tests.factories import access_token_for, bearer, user_with_role
from dsta.domains import DOMAINS

from .routes import fill

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS])

ROOT = Path(__file__).resolve().parents[2]
# DRF views that are not domain endpoints: the OpenAPI schema, Swagger UI and the AsyncAPI document, with their
# own permission class (core.drf.ApiDocsPermission: public in debug, signed-in callers otherwise); they act on
# nothing.
SCHEMA_VIEWS = {"SpectacularAPIView", "SpectacularSwaggerView", "SpectacularSwaggerSplitView", "AsyncApiView"}


def _routes(patterns: list[Any], prefix: str = "") -> list[tuple[str, URLPattern]]:
    found: list[tuple[str, URLPattern]] = []
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found.extend(_routes(entry.url_patterns, route))
        elif isinstance(entry, URLPattern):
            found.append((route, entry))
    return found


def drf_endpoints() -> list[tuple[str, str, type[APIView]]]:
    """(route, method, view class) for every method of every DRF view of the URLconf."""
    endpoints = []
    for route, pattern in _routes(get_resolver().url_patterns):
        view = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
        if view is None or not issubclass(view, APIView) or view.__name__ in SCHEMA_VIEWS:
            continue
        methods = [name for name in view.http_method_names if name not in ("head", "options") and hasattr(view, name)]
        endpoints.extend((route, method.upper(), view) for method in methods)
    return endpoints


def key_for(user, *scopes: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    created = auth.api_key_create(user_id=user.pk, name="-".join(scopes), scopes=list(scopes), expires_at=None)
    return {"HTTP_X_API_KEY": created.key}


def test_every_endpoint_of_every_domain_names_the_scope_an_api_key_needs():
    endpoints = drf_endpoints()
    assert len({route for route, _, _ in endpoints}) > 80  # the walk found the whole API, not a corner of it
    documented = (ROOT / "dsta/core/README.md").read_text()
    missing, undocumented = [], set()
    for route, method, view in endpoints:
        # The scope check lives in the RBAC class: a view that replaced it would skip scopes (and roles).
        assert RBACPermission in view.permission_classes, f"{route}: {view.__name__} bypasses RBACPermission"
        scope = required_scope(view(), method)
        if scope is None:
            missing.append(f"{method} {route} ({view.__name__})")
        elif scope not in (PUBLIC, SESSIONS_ONLY) and f"`{scope}`" not in documented:
            undocumented.add(scope)
    assert not missing, f"endpoints that name no API-key scope (set required_scope): {missing}"
    assert not undocumented, f"scopes missing from the scope table of dsta/core/README.md: {sorted(undocumented)}"


def test_routes_outside_drf_never_take_an_api_key():
    # Web pages, health, metrics and the AsyncAPI document are plain Django views: sessions or nothing. A key
    # that may do everything must get exactly what an anonymous caller gets there.
    admin = user_with_role("admin")
    key = key_for(admin, "*")
    plain = []
    for route, pattern in _routes(get_resolver().url_patterns):
        view = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
        if route.startswith("admin/") or (view is not None and issubclass(view, APIView)):
            continue  # Django's admin authenticates its own sessions only
        plain.append("/" + fill(route.lstrip("^").rstrip("$"), text="x").lstrip("/"))
    assert "/login/" in plain and "/metrics" in plain
    client = APIClient(REMOTE_ADDR="203.0.113.9")
    for path in plain:
        anonymous = client.get(path)
        with_key = client.get(path, **key)
        with_bearer_key = client.get(path, HTTP_AUTHORIZATION=f"ApiKey {key['HTTP_X_API_KEY']}")
        assert with_key.status_code == with_bearer_key.status_code == anonymous.status_code, path


def test_a_market_data_key_reaches_market_data_and_nothing_of_the_account():
    owner = user_with_role("admin")  # every role permission: only the key's scope stands in the way
    client = APIClient()
    key = key_for(owner, "market_data.read")
    client.put(
        "/api/v1/users/preferences",
        {"preferences": {"theme": "dark"}},
        format="json",
        **bearer(access_token_for(owner)),
    )
    assert client.get("/api/v1/market-data/series", **key).status_code == 200
    refused = {
        "profile": client.get("/api/v1/users/profile", **key),
        "audit log": client.get("/api/v1/users/audit-log", **key),
        "preferences read": client.get("/api/v1/users/preferences", **key),
        "preferences write": client.put(
            "/api/v1/users/preferences", {"preferences": {"theme": "pwned"}}, format="json", **key
        ),
        "validate": client.get("/api/v1/auth/validate", **key),
        "feature flag": client.get("/api/v1/config/flags/new-chart", **key),
        "orders": client.get("/api/v1/orders/active", **key),
        "order placement": client.post(
            "/api/v1/orders",
            {"symbol": "BTC/USDT", "side": "buy", "order_type": "market", "quantity": "0.001", "venue": "paper"},
            format="json",
            **key,
        ),
        "api keys": client.get("/api/v1/auth/api-keys", **key),
    }
    assert {name: response.status_code for name, response in refused.items()} == dict.fromkeys(refused, 403)
    assert "account.write" in refused["preferences write"].json()["detail"]
    profile = client.get("/api/v1/users/profile", **bearer(access_token_for(owner))).json()
    assert profile["preferences"] == {"theme": "dark"}


def test_an_account_read_key_reads_the_profile_but_cannot_write_preferences_or_read_the_audit_log():
    owner = user_with_role("viewer")
    client = APIClient()
    key = key_for(owner, "account.read")
    profile = client.get("/api/v1/users/profile", **key)
    assert profile.status_code == 200 and profile.json()["username"] == owner.username
    assert client.get("/api/v1/users/preferences", **key).status_code == 200
    assert client.get("/api/v1/auth/validate", **key).json()["scopes"] == ["account.read"]
    write = client.put("/api/v1/users/preferences", {"preferences": {"theme": "x"}}, format="json", **key)
    assert write.status_code == 403
    assert client.get("/api/v1/users/audit-log", **key).status_code == 403
    assert client.get("/api/v1/market-data/series", **key).status_code == 403
    assert client.get("/api/v1/users/preferences", **key).json() == {"preferences": {}}


def test_keys_get_exactly_what_their_scopes_name():
    owner = user_with_role("trader")
    client = APIClient()
    writer = key_for(owner, "account.write")
    assert (
        client.put("/api/v1/users/preferences", {"preferences": {"a": 1}}, format="json", **writer).status_code == 200
    )
    assert client.get("/api/v1/users/preferences", **writer).status_code == 403  # write does not imply read
    assert client.get("/api/v1/users/profile", **writer).status_code == 403

    auditor = key_for(owner, "account.audit.read")
    entries = client.get("/api/v1/users/audit-log", **auditor)
    assert entries.status_code == 200 and {row["actor_id"] for row in entries.json()} == {owner.pk}
    assert client.get("/api/v1/users/profile", **auditor).status_code == 403

    account = key_for(owner, "account.*")  # patterns name families of scopes
    for path in ("/api/v1/users/profile", "/api/v1/users/preferences", "/api/v1/users/audit-log"):
        assert client.get(path, **account).status_code == 200, path
    assert client.get("/api/v1/orders/active", **account).status_code == 403

    everything = key_for(owner, "*")
    assert client.get("/api/v1/users/audit-log", **everything).status_code == 200
    assert client.get("/api/v1/orders/active", **everything).status_code == 200
    # Logging out ends a token session: no key may call it, whatever it names.
    assert client.post("/api/v1/auth/logout", {}, format="json", **everything).status_code == 403


def test_an_admins_key_does_not_read_everyones_audit_log_without_the_audit_scope():
    admin, other = user_with_role("admin"), user_with_role("viewer")
    audit.record(actor_id=other.pk, action="test.other", ip="198.51.100.7")
    client = APIClient()
    narrow = client.get("/api/v1/users/audit-log", **key_for(admin, "account.audit.read")).json()
    assert {row["actor_id"] for row in narrow} <= {admin.pk}
    both = key_for(admin, "account.audit.read", "audit.read")
    wide = client.get(f"/api/v1/users/audit-log?actor_id={other.pk}", **both)
    assert [row["action"] for row in wide.json()] == ["test.other"]


def test_token_sessions_keep_their_role_checks():
    viewer = user_with_role("viewer")
    client = APIClient(**bearer(access_token_for(viewer)))
    assert client.get("/api/v1/users/profile").status_code == 200
    assert client.get("/api/v1/users/audit-log").status_code == 200
    assert client.put("/api/v1/users/preferences", {"preferences": {"x": 1}}, format="json").status_code == 200
    assert client.get("/api/v1/config/flags/new-chart").status_code == 200
    assert client.get("/api/v1/orders/active").status_code == 200
    assert client.post("/api/v1/positions/reconcile", {}, format="json").status_code == 403  # the role, not a scope


def test_a_new_view_that_names_no_scope_takes_no_api_key():
    class Undeclared(APIView):  # a signed-in-only endpoint someone forgot to give a scope
        required_permission = AUTHENTICATED

        def get(self, request):  # type: ignore[no-untyped-def]
            return Response({"ok": True})

    class Declared(Undeclared):
        required_scope = "account.read"

    owner = user_with_role("viewer")
    key = key_for(owner, "*")
    factory = APIRequestFactory()
    assert Undeclared.as_view()(factory.get("/x", **key)).status_code == 403
    assert Undeclared.as_view()(factory.get("/x", **bearer(access_token_for(owner)))).status_code == 200
    assert Declared.as_view()(factory.get("/x", **key)).status_code == 200
    assert Declared.as_view()(factory.get("/x", **key_for(owner, "account.write"))).status_code == 403


def test_the_openapi_schema_still_builds():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]
    assert {"/api/v1/users/profile", "/api/v1/users/preferences", "/api/v1/orders"} <= set(paths)
    # Each operation states the scope a key needs, as the permission class reads it.
    assert paths["/api/v1/users/preferences"]["put"]["x-api-key-scope"] == "account.write"
    assert paths["/api/v1/orders"]["post"]["x-api-key-scope"] == "trading.order.create"
    assert "API-key scope: `account.read`" in paths["/api/v1/users/profile"]["get"]["description"]
    assert paths["/api/v1/auth/logout"]["post"]["x-api-key-scope"] is None
    assert "x-api-key-scope" not in paths["/api/v1/auth/login"]["post"]
