"""The role x endpoint matrix: every endpoint of every domain, every role and anonymous, from one table.

Add a row when you add an endpoint: `test_every_endpoint_is_in_the_matrix` fails for any (route, method) of
the URLconf under /api/v1/ that is missing here, so nothing ships unlisted. `allowed` is who gets past the
permission check (the view may still answer 400/404 for the empty sample request); everyone else must get
401 (anonymous) or 403 (signed in).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from dsta.core.tests.factories import ROLES, access_token_for, bearer, clear_login_counters, user_with_role
from dsta.domains import DOMAINS

ANONYMOUS = "anonymous"
EVERYONE = frozenset({ANONYMOUS, *ROLES})
SIGNED_IN = frozenset(ROLES)
READERS = SIGNED_IN  # viewer and up
TRADER_UP = frozenset({"trader", "admin"})
KEY_HOLDERS = frozenset({"analyst", "trader", "admin"})
ADMIN = frozenset({"admin"})
RESEARCH = frozenset({"analyst", "admin"})
NO_ID = "00000000-0000-0000-0000-000000000000"
JOB = f"/api/v1/backtest/{NO_ID}"


@dataclass(frozen=True)
class Row:
    route: str  # as the URLconf spells it
    method: str
    path: str  # a concrete request path
    allowed: frozenset[str]


MATRIX = [
    # core: auth
    Row("api/v1/auth/login", "POST", "/api/v1/auth/login", EVERYONE),
    Row("api/v1/auth/refresh", "POST", "/api/v1/auth/refresh", EVERYONE),
    Row("api/v1/auth/logout", "POST", "/api/v1/auth/logout", SIGNED_IN),
    Row("api/v1/auth/validate", "GET", "/api/v1/auth/validate", SIGNED_IN),
    Row("api/v1/auth/api-keys", "GET", "/api/v1/auth/api-keys", KEY_HOLDERS),
    Row("api/v1/auth/api-keys", "POST", "/api/v1/auth/api-keys", KEY_HOLDERS),
    Row("api/v1/auth/api-keys/<int:key_id>", "DELETE", "/api/v1/auth/api-keys/999999", KEY_HOLDERS),
    # core: users
    Row("api/v1/users/profile", "GET", "/api/v1/users/profile", SIGNED_IN),
    Row("api/v1/users/preferences", "GET", "/api/v1/users/preferences", SIGNED_IN),
    Row("api/v1/users/preferences", "PUT", "/api/v1/users/preferences", SIGNED_IN),
    Row("api/v1/users/audit-log", "GET", "/api/v1/users/audit-log", SIGNED_IN),
    # core: config
    Row("api/v1/config/<str:key>", "GET", "/api/v1/config/risk.limits", KEY_HOLDERS),
    Row("api/v1/config/<str:key>", "PUT", "/api/v1/config/risk.limits", ADMIN),
    Row("api/v1/config/<str:key>/history", "GET", "/api/v1/config/risk.limits/history", KEY_HOLDERS),
    Row("api/v1/config/<str:key>/rollback", "POST", "/api/v1/config/risk.limits/rollback", ADMIN),
    Row("api/v1/config/secrets/<path:key>", "GET", "/api/v1/config/secrets/exchange/binance/api_key", ADMIN),
    Row("api/v1/config/flags/<str:name>", "GET", "/api/v1/config/flags/new-chart", SIGNED_IN),
    # core: notifications
    Row("api/v1/notifications/send", "POST", "/api/v1/notifications/send", TRADER_UP),
    Row("api/v1/notifications/history", "GET", "/api/v1/notifications/history", KEY_HOLDERS),
    Row("api/v1/notifications/templates", "GET", "/api/v1/notifications/templates", KEY_HOLDERS),
    Row("api/v1/notifications/templates", "POST", "/api/v1/notifications/templates", ADMIN),
    # data
    Row("api/v1/market-data/series", "GET", "/api/v1/market-data/series", READERS),
    Row("api/v1/market-data/ohlcv/<str:symbol>", "GET", "/api/v1/market-data/ohlcv/BTC-USDT", READERS),
    Row("api/v1/market-data/orderbook/<str:symbol>", "GET", "/api/v1/market-data/orderbook/BTC-USDT", READERS),
    Row("api/v1/market-data/ticker/<str:symbol>", "GET", "/api/v1/market-data/ticker/BTC-USDT", READERS),
    Row("api/v1/market-data/gaps", "GET", "/api/v1/market-data/gaps", READERS),
    Row("api/v1/market-data/gaps/fill", "POST", "/api/v1/market-data/gaps/fill", RESEARCH),
    Row("api/v1/market-data/quality", "GET", "/api/v1/market-data/quality", READERS),
    Row("api/v1/market-data/sync", "POST", "/api/v1/market-data/sync", RESEARCH),
    Row("api/v1/market-data/sync/<uuid:job_id>", "GET", f"/api/v1/market-data/sync/{NO_ID}", READERS),
    Row("api/v1/analytics/performance", "GET", "/api/v1/analytics/performance", READERS),
    Row("api/v1/analytics/equity-curve", "GET", "/api/v1/analytics/equity-curve", READERS),
    Row("api/v1/analytics/sharpe", "GET", "/api/v1/analytics/sharpe", READERS),
    Row("api/v1/analytics/correlation", "GET", "/api/v1/analytics/correlation", READERS),
    Row("api/v1/analytics/reports/generate", "POST", "/api/v1/analytics/reports/generate", RESEARCH),
    Row("api/v1/analytics/reports/<uuid:report_id>", "GET", f"/api/v1/analytics/reports/{NO_ID}", RESEARCH),
    Row("api/v1/analytics/reports/<uuid:report_id>/html", "GET", f"/api/v1/analytics/reports/{NO_ID}/html", RESEARCH),
    # data: backtesting
    Row("api/v1/backtest/strategies", "GET", "/api/v1/backtest/strategies", RESEARCH),
    Row("api/v1/backtest/run", "POST", "/api/v1/backtest/run", RESEARCH),
    Row("api/v1/backtest/optimize", "POST", "/api/v1/backtest/optimize", RESEARCH),
    Row("api/v1/backtest/monte-carlo", "POST", "/api/v1/backtest/monte-carlo", RESEARCH),
    Row("api/v1/backtest/walk-forward", "POST", "/api/v1/backtest/walk-forward", RESEARCH),
    Row("api/v1/backtest/<uuid:job_id>/results", "GET", f"{JOB}/results", RESEARCH),
    Row("api/v1/backtest/<uuid:job_id>/report", "GET", f"{JOB}/report", RESEARCH),
    # exchange
    Row("api/v1/exchange/health", "GET", "/api/v1/exchange/health", READERS),
    Row("api/v1/exchange/<str:name>/status", "GET", "/api/v1/exchange/paper/status", READERS),
    Row("api/v1/exchange/<str:name>/order", "POST", "/api/v1/exchange/paper/order", TRADER_UP),
    Row(
        "api/v1/exchange/<str:name>/order/<str:client_order_id>", "GET", "/api/v1/exchange/paper/order/none", TRADER_UP
    ),
    Row("api/v1/exchange/<str:name>/cancel", "POST", "/api/v1/exchange/paper/cancel", TRADER_UP),
    Row("api/v1/exchange/<str:name>/batch-cancel", "POST", "/api/v1/exchange/paper/batch-cancel", TRADER_UP),
    Row("api/v1/exchange/<str:name>/balance", "GET", "/api/v1/exchange/paper/balance", TRADER_UP),
    Row("api/v1/exchange/<str:name>/account", "GET", "/api/v1/exchange/paper/account", TRADER_UP),
    Row("api/v1/exchange/<str:name>/ticker/<str:symbol>", "GET", "/api/v1/exchange/paper/ticker/BTC-USDT", READERS),
    Row(
        "api/v1/exchange/<str:name>/orderbook/<str:symbol>", "GET", "/api/v1/exchange/paper/orderbook/BTC-USDT", READERS
    ),
    # trading: strategies and risk
    Row("api/v1/strategies", "GET", "/api/v1/strategies", READERS),
    Row("api/v1/strategies", "POST", "/api/v1/strategies", TRADER_UP),
    Row("api/v1/strategies/<int:instance_id>", "GET", "/api/v1/strategies/999999", READERS),
    Row("api/v1/strategies/<int:instance_id>/parameters", "PUT", "/api/v1/strategies/999999/parameters", TRADER_UP),
    Row("api/v1/strategies/<int:instance_id>/signals", "GET", "/api/v1/strategies/999999/signals", READERS),
    Row("api/v1/strategies/<int:instance_id>/start", "POST", "/api/v1/strategies/999999/start", TRADER_UP),
    Row("api/v1/strategies/<int:instance_id>/pause", "POST", "/api/v1/strategies/999999/pause", TRADER_UP),
    Row("api/v1/strategies/<int:instance_id>/stop", "POST", "/api/v1/strategies/999999/stop", TRADER_UP),
    Row("api/v1/strategies/<int:instance_id>/arm", "POST", "/api/v1/strategies/999999/arm", TRADER_UP),
    Row("api/v1/strategies/<int:instance_id>/disarm", "POST", "/api/v1/strategies/999999/disarm", TRADER_UP),
    Row("api/v1/strategies/<int:instance_id>/performance", "GET", "/api/v1/strategies/999999/performance", READERS),
    Row("api/v1/strategies/<int:instance_id>/parity", "GET", "/api/v1/strategies/999999/parity", READERS),
    Row("api/v1/risk/limits", "GET", "/api/v1/risk/limits", READERS),
    Row("api/v1/risk/limits", "PUT", "/api/v1/risk/limits", ADMIN),
    Row("api/v1/risk/circuit-breaker", "GET", "/api/v1/risk/circuit-breaker", READERS),
    Row("api/v1/risk/circuit-breaker", "POST", "/api/v1/risk/circuit-breaker", TRADER_UP),
    Row("api/v1/risk/violations", "GET", "/api/v1/risk/violations", READERS),
    # trading: orders, fills, positions, P&L
    Row("api/v1/risk/check", "POST", "/api/v1/risk/check", TRADER_UP),
    Row("api/v1/orders", "POST", "/api/v1/orders", TRADER_UP),
    Row("api/v1/orders/active", "GET", "/api/v1/orders/active", READERS),
    Row("api/v1/orders/<int:order_id>", "GET", "/api/v1/orders/999999", READERS),
    Row("api/v1/orders/<int:order_id>/cancel", "PUT", "/api/v1/orders/999999/cancel", TRADER_UP),
    Row("api/v1/fills", "GET", "/api/v1/fills", READERS),
    Row("api/v1/positions", "GET", "/api/v1/positions", READERS),
    Row("api/v1/positions/reconcile", "POST", "/api/v1/positions/reconcile", TRADER_UP),
    Row("api/v1/positions/<str:symbol>", "GET", "/api/v1/positions/BTC-USDT", READERS),
    Row("api/v1/portfolio/pnl", "GET", "/api/v1/portfolio/pnl", READERS),
    Row("api/v1/positions/<str:symbol>/stops", "GET", "/api/v1/positions/BTC-USDT/stops", READERS),
    Row("api/v1/positions/<str:symbol>/stops", "POST", "/api/v1/positions/BTC-USDT/stops", TRADER_UP),
    Row(
        "api/v1/positions/<str:symbol>/stops/<int:stop_id>/cancel",
        "PUT",
        "/api/v1/positions/BTC-USDT/stops/999999/cancel",
        TRADER_UP,
    ),
    # ml: features, training, registry, predictions
    Row("api/v1/ml/features/<str:symbol>", "GET", "/api/v1/ml/features/BTC-USDT", READERS),
    Row("api/v1/ml/features/extract", "POST", "/api/v1/ml/features/extract", RESEARCH),
    Row("api/v1/ml/importance", "GET", "/api/v1/ml/importance?model_id=999999", READERS),
    Row("api/v1/ml/train", "POST", "/api/v1/ml/train", RESEARCH),
    Row("api/v1/ml/training/<uuid:job_id>/status", "GET", f"/api/v1/ml/training/{NO_ID}/status", READERS),
    Row("api/v1/ml/training/<uuid:job_id>/metrics", "GET", f"/api/v1/ml/training/{NO_ID}/metrics", READERS),
    Row("api/v1/ml/models", "GET", "/api/v1/ml/models", READERS),
    Row("api/v1/ml/models", "POST", "/api/v1/ml/models", RESEARCH),
    Row("api/v1/ml/models/rollback", "POST", "/api/v1/ml/models/rollback", RESEARCH),
    Row("api/v1/ml/models/<int:model_id>", "GET", "/api/v1/ml/models/999999", READERS),
    Row("api/v1/ml/models/<int:model_id>", "DELETE", "/api/v1/ml/models/999999", RESEARCH),
    Row("api/v1/ml/models/<int:model_id>/promote", "POST", "/api/v1/ml/models/999999/promote", RESEARCH),
    Row("api/v1/ml/ab-splits/<str:name>", "PUT", "/api/v1/ml/ab-splits/btc-direction", RESEARCH),
    Row("api/v1/ml/ab-splits/<str:name>", "DELETE", "/api/v1/ml/ab-splits/btc-direction", RESEARCH),
    Row("api/v1/ml/predict", "POST", "/api/v1/ml/predict", RESEARCH),
    Row("api/v1/ml/predict/batch", "POST", "/api/v1/ml/predict/batch", RESEARCH),
    Row("api/v1/ml/predictions/<uuid:prediction_id>", "GET", f"/api/v1/ml/predictions/{NO_ID}", READERS),
]


# WebSocket routes (dsta/asgi.py): allowed roles are accepted, others closed with 4401 / 4403.
WEBSOCKET_MATRIX = [
    Row("api/v1/config/watch", "WS", "/api/v1/config/watch", KEY_HOLDERS),
    Row("api/v1/market-data/stream/<str:symbol>", "WS", "/api/v1/market-data/stream/BTC-USDT", READERS),
    Row("api/v1/exchange/<str:name>/stream", "WS", "/api/v1/exchange/paper/stream", READERS),
]


def api_routes() -> set[tuple[str, str]]:
    """Every (route, HTTP method) a DRF view under api/v1/ answers."""
    found: set[tuple[str, str]] = set()

    def walk(patterns, prefix: str) -> None:  # type: ignore[no-untyped-def]
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                view = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
                if not route.startswith("api/v1/"):
                    continue
                assert view is not None, f"{route} is not a DRF view: it would bypass the RBAC permission class"
                actions = getattr(pattern.callback, "actions", None)  # viewsets map methods to actions
                methods = actions.keys() if actions else [m for m in view.http_method_names if hasattr(view, m)]
                found.update((route, method.upper()) for method in methods if method not in ("head", "options"))

    walk(get_resolver().url_patterns, "")
    return found


def test_every_endpoint_is_in_the_matrix():
    listed = {(row.route, row.method) for row in MATRIX}
    missing = api_routes() - listed
    assert not missing, f"endpoints missing from the RBAC matrix: {sorted(missing)}"
    stale = listed - api_routes()
    assert not stale, f"matrix rows for endpoints that do not exist: {sorted(stale)}"


def test_every_websocket_route_is_in_the_matrix():
    from dsta.asgi import websocket_urlpatterns

    assert {str(pattern.pattern) for pattern in websocket_urlpatterns} == {row.route for row in WEBSOCKET_MATRIX}


@pytest.fixture
def users(settings):  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    clear_login_counters()
    return {role: user_with_role(role) for role in ROLES}


@pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS])
@pytest.mark.parametrize("row", MATRIX, ids=lambda row: f"{row.method} {row.route}")
def test_role_matrix(row, users):
    client = APIClient()
    outcomes = {}
    for who in [ANONYMOUS, *ROLES]:
        # A fresh token per request: some allowed calls (logout) revoke the token they came with.
        headers = {} if who == ANONYMOUS else bearer(access_token_for(users[who]))
        response = client.generic(row.method, row.path, data="{}", content_type="application/json", **headers)
        outcomes[who] = response.status_code
    for who, status in outcomes.items():
        if who in row.allowed:
            assert status not in (401, 403), f"{who} refused on {row.method} {row.path}: {outcomes}"
        else:
            expected = 401 if who == ANONYMOUS else 403
            assert status == expected, f"{who} on {row.method} {row.path}: {outcomes}"


def test_a_view_that_declares_no_permission_is_refused_to_everyone():
    from rest_framework.views import APIView

    from dsta.core.drf import RBACPermission

    class Undeclared(APIView):
        pass

    class PerMethod(APIView):
        required_permission = {"GET": "market_data.read"}

    request = type("R", (), {"method": "GET", "auth": None, "user": None})()
    assert not RBACPermission().has_permission(request, Undeclared())
    request.method = "POST"
    assert not RBACPermission().has_permission(request, PerMethod())


@pytest.mark.django_db(databases=["default"], transaction=True)
@pytest.mark.parametrize("row", WEBSOCKET_MATRIX, ids=lambda row: row.route)
def test_websocket_role_matrix(row, users):
    import asyncio

    from channels.testing import WebsocketCommunicator

    from dsta.asgi import application

    tokens = {who: access_token_for(user) for who, user in users.items()}

    async def outcome(who: str) -> tuple[bool, int | None]:
        query = f"?token={tokens[who]}" if who in tokens else ""
        communicator = WebsocketCommunicator(application, row.path + query)
        connected, code = await communicator.connect()
        if connected:
            await communicator.disconnect()
        return connected, None if connected else code

    async def all_outcomes() -> dict[str, tuple[bool, int | None]]:
        return {who: await outcome(who) for who in [ANONYMOUS, *ROLES]}

    for who, (connected, code) in asyncio.run(all_outcomes()).items():
        if who in row.allowed:
            assert connected, f"{who} refused on {row.route}"
        else:
            assert (connected, code) == (False, 4401 if who == ANONYMOUS else 4403), who


def refused_credentials(admin) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    """An admin's credentials made worthless four ways."""
    import time
    import uuid

    import jwt

    from dsta.core import auth

    now = int(time.time())
    expired = jwt.encode(
        {
            "iss": "dsta",
            "sub": str(admin.pk),
            "typ": "access",
            "jti": uuid.uuid4().hex,
            "iat": now - 600,
            "exp": now - 1,
        },
        auth.signing_key(),
    )
    header, payload, signature = access_token_for(admin).split(".")
    tampered = f"{header}.{payload[:-4]}AAAA.{signature}"
    revoked = access_token_for(admin)
    auth.logout(access_token=revoked)
    key = auth.api_key_create(user_id=admin.pk, name="gone", scopes=["*"], expires_at=None)
    auth.api_key_revoke(user_id=admin.pk, key_id=key.key_id)
    return {
        "expired": bearer(expired),
        "tampered": bearer(tampered),
        "revoked": bearer(revoked),
        "revoked api key": {"HTTP_X_API_KEY": key.key},
    }


@pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS])
@pytest.mark.parametrize("row", [row for row in MATRIX if ANONYMOUS not in row.allowed], ids=lambda row: row.route)
def test_expired_tampered_and_revoked_credentials_are_refused_everywhere(row, users):
    client = APIClient()
    for kind, headers in refused_credentials(users["admin"]).items():
        response = client.generic(row.method, row.path, data="{}", content_type="application/json", **headers)
        assert response.status_code == 401, f"{kind} credentials on {row.method} {row.path}"
