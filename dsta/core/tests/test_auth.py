from __future__ import annotations

import time
from datetime import timedelta

import jwt
import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from dsta.core import api, auth
from dsta.core.models import ApiKey, AuditEntry, RefreshToken
from dsta.core.tests.factories import PASSWORD, access_token_for, bearer, clear_login_counters, user_with_role
from dsta.kernel.clock import utc_now

pytestmark = pytest.mark.django_db(databases=["default", "data"])


@pytest.fixture(autouse=True)
def _fresh_login_counters():
    clear_login_counters()
    yield
    clear_login_counters()


@pytest.fixture
def client():
    return APIClient()


def login(client, username, password=PASSWORD):
    return client.post("/api/v1/auth/login", {"username": username, "password": password}, format="json")


def test_login_gives_tokens_that_validate_and_is_audited(client):
    user = user_with_role("trader")
    response = login(client, user.username)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"].startswith("rt_")
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == str(user.pk) and claims["typ"] == "access" and claims["jti"]
    assert claims["exp"] - claims["iat"] == 300

    validated = client.get("/api/v1/auth/validate", **bearer(body["access_token"]))
    assert validated.status_code == 200
    assert validated.json()["user_id"] == user.pk and validated.json()["roles"] == ["trader"]
    assert AuditEntry.objects.filter(actor_id=user.pk, action="auth.login").count() == 1
    # The refresh token is stored only as a hash.
    assert not RefreshToken.objects.filter(token_hash=body["refresh_token"]).exists()
    assert RefreshToken.objects.filter(user=user).count() == 1


def test_wrong_password_is_401_and_lockout_after_repeated_failures(client):
    user = user_with_role("viewer")
    with override_settings(DSTA_LOGIN_MAX_FAILURES=3, DSTA_LOGIN_LOCKOUT_SECONDS=60):
        for _ in range(3):
            assert login(client, user.username, "wrong").status_code == 401
        locked = login(client, user.username)  # even the right password is refused while locked
    assert locked.status_code == 429
    assert 0 < int(locked["Retry-After"]) <= 60
    assert AuditEntry.objects.filter(actor_id=user.pk, action="auth.login_failed").count() == 3
    clear_login_counters()
    assert login(client, user.username).status_code == 200


def test_login_is_throttled_per_ip(client):
    with override_settings(DSTA_LOGIN_IP_ATTEMPTS_PER_MINUTE=4):
        statuses = [login(client, f"ghost{i}", "x").status_code for i in range(6)]
    assert statuses == [401, 401, 401, 401, 429, 429]


def test_refresh_rotates_and_reuse_revokes_the_whole_family(client):
    user = user_with_role("viewer")
    first = login(client, user.username).json()
    second = client.post("/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]}, format="json")
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/api/v1/auth/validate", **bearer(second["access_token"])).status_code == 200

    # The first refresh token, already used, comes back: theft. Every token of the login dies.
    reuse = client.post("/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]}, format="json")
    assert reuse.status_code == 401
    assert reuse.json()["detail"].startswith("refresh token was already used")
    assert (
        client.post("/api/v1/auth/refresh", {"refresh_token": second["refresh_token"]}, format="json").status_code
        == 401
    )
    assert client.get("/api/v1/auth/validate", **bearer(second["access_token"])).status_code == 401
    assert client.get("/api/v1/auth/validate", **bearer(first["access_token"])).status_code == 401
    assert AuditEntry.objects.filter(actor_id=user.pk, action="auth.refresh_reuse").count() == 1
    # Another login of the same user is unaffected.
    assert client.get("/api/v1/auth/validate", **bearer(access_token_for(user))).status_code == 200


def test_logout_revokes_the_access_token_and_its_refresh_family(client):
    user = user_with_role("viewer")
    tokens = login(client, user.username).json()
    assert client.post("/api/v1/auth/logout", {}, format="json", **bearer(tokens["access_token"])).status_code == 204
    assert client.get("/api/v1/auth/validate", **bearer(tokens["access_token"])).status_code == 401
    assert (
        client.post("/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json").status_code
        == 401
    )
    assert api.token_validate(token=tokens["access_token"]) is None


def test_expired_tampered_and_foreign_tokens_are_rejected(client):
    user = user_with_role("admin")
    with override_settings(DSTA_JWT_ACCESS_TTL_SECONDS=1):
        short = access_token_for(user)
    good = access_token_for(user)
    header, payload, signature = good.split(".")
    tampered_payload = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(f'"sub":"{user.pk}"'.encode(), b'"sub":"1"')
    ).decode()
    forged = jwt.encode(
        {"sub": str(user.pk), "typ": "access", "jti": "x", "iss": "dsta", "iat": 0, "exp": 2**31},
        "not-our-key-but-long-enough-for-hs256-xx",
    )
    none_alg = jwt.encode({"sub": str(user.pk), "typ": "access"}, None, algorithm="none")
    time.sleep(2.1)
    for token, code in [
        (short, "token_expired"),
        (f"{header}.{tampered_payload}.{signature}", "invalid_token"),
        (forged, "invalid_token"),
        (none_alg, "invalid_token"),
        ("garbage", "invalid_token"),
    ]:
        response = client.get("/api/v1/auth/validate", **bearer(token))
        assert response.status_code == 401, token
        with pytest.raises(auth.AuthError) as refused:
            auth.access_token_validate(token=token)
        assert refused.value.code == code
    assert client.get("/api/v1/auth/validate", **bearer(good)).status_code == 200


def test_deactivated_user_tokens_stop_working(client):
    user = user_with_role("trader")
    token = access_token_for(user)
    user.is_active = False
    user.save()
    assert client.get("/api/v1/auth/validate", **bearer(token)).status_code == 401


def test_api_key_is_shown_once_stored_hashed_scoped_expiring_and_revocable(client):
    user = user_with_role("trader")
    token = access_token_for(user)
    created = client.post(
        "/api/v1/auth/api-keys",
        {"name": "bot", "scopes": ["market_data.read"], "expires_in_days": 30},
        format="json",
        **bearer(token),
    )
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("dsta_")
    row = ApiKey.objects.get(pk=created.json()["key_id"])
    assert key not in (row.key_hash, row.prefix) and len(row.key_hash) == 64
    listed = client.get("/api/v1/auth/api-keys", **bearer(token)).json()
    assert [item["prefix"] for item in listed] == [row.prefix] and "key" not in listed[0]
    assert AuditEntry.objects.filter(actor_id=user.pk, action="auth.api_key_created").count() == 1

    # In scope: allowed. Out of scope (a trader may manage keys, this key may not): refused.
    assert client.get("/api/v1/market-data/series", HTTP_X_API_KEY=key).status_code == 200
    assert client.get("/api/v1/auth/api-keys", HTTP_AUTHORIZATION=f"ApiKey {key}").status_code == 403
    principal = api.token_validate(token=key)
    assert principal is not None and principal.scopes == ("market_data.read",)
    assert not api.permission_check(principal=principal, permission="trading.order.create")

    assert client.get("/api/v1/market-data/series", HTTP_X_API_KEY=key[:-1] + "x").status_code == 401
    ApiKey.objects.filter(pk=row.pk).update(expires_at=utc_now() - timedelta(seconds=1))
    assert client.get("/api/v1/market-data/series", HTTP_X_API_KEY=key).status_code == 401
    ApiKey.objects.filter(pk=row.pk).update(expires_at=None)
    assert client.delete(f"/api/v1/auth/api-keys/{row.pk}", **bearer(token)).status_code == 204
    assert client.get("/api/v1/market-data/series", HTTP_X_API_KEY=key).status_code == 401
    assert client.delete(f"/api/v1/auth/api-keys/{row.pk}", **bearer(token)).status_code == 404


def test_api_key_scopes_cannot_exceed_the_owner_roles(client):
    viewer_key_owner = user_with_role("analyst")
    key = auth.api_key_create(user_id=viewer_key_owner.pk, name="wide", scopes=["*"], expires_at=None).key
    principal = api.token_validate(token=key)
    assert api.permission_check(principal=principal, permission="market_data.read")
    assert not api.permission_check(principal=principal, permission="trading.order.create")
    assert not api.permission_check(principal=principal, permission="config.write")


def test_api_key_create_rejects_bad_input_with_field_errors(client):
    token = access_token_for(user_with_role("trader"))
    response = client.post(
        "/api/v1/auth/api-keys", {"name": "", "scopes": ["Bad Scope!"]}, format="json", **bearer(token)
    )
    assert response.status_code == 400
    assert set(response.json()) == {"name", "scopes"}


def test_user_permission_check_facade():
    trader, viewer = user_with_role("trader"), user_with_role("viewer")
    assert api.user_permission_check(user_id=trader.pk, permission="trading.order.create")
    assert not api.user_permission_check(user_id=viewer.pk, permission="trading.order.create")
    assert not api.user_permission_check(user_id=999_999, permission="market_data.read")
