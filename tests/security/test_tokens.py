"""Issue 18.3: forged, stale and misused credentials are a 401 (these held before the issue 20 fixes; kept as
the attacker's checklist)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import timedelta

import jwt
import pytest
from rest_framework.test import APIClient

from dsta.core import auth
from dsta.core.tests.factories import access_token_for, user_with_role
from dsta.kernel.clock import utc_now

pytestmark = pytest.mark.django_db


def claims_for(user_id: int, **changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {"iss": "dsta", "sub": str(user_id), "typ": "access", "jti": uuid.uuid4().hex}
    claims.update(iat=now, exp=now + 60)
    claims.update(changes)
    return claims


def unsigned(claims: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def forged_tokens(admin_id: int, valid: str, refresh: str) -> dict[str, str]:
    key = auth.signing_key()
    header, payload, signature = valid.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["sub"] = str(admin_id + 1000)
    tampered_payload = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    now = int(time.time())
    return {
        "alg none": unsigned(claims_for(admin_id)),
        "wrong key": jwt.encode(claims_for(admin_id), "x" * 48, algorithm="HS256"),
        "expired": jwt.encode(claims_for(admin_id, iat=now - 600, exp=now - 1), key, algorithm="HS256"),
        "not yet valid": jwt.encode(claims_for(admin_id, nbf=now + 600), key, algorithm="HS256"),
        "wrong issuer": jwt.encode(claims_for(admin_id, iss="evil"), key, algorithm="HS256"),
        "tampered payload": f"{header}.{tampered_payload}.{signature}",
        "refresh token as access": refresh,
        "refresh-typed JWT": jwt.encode(claims_for(admin_id, typ="refresh"), key, algorithm="HS256"),
    }


def test_forged_and_misused_jwts_are_401():
    admin = user_with_role("admin")
    pair = auth.tokens_issue(user=admin)
    for kind, token in forged_tokens(admin.pk, pair.access_token, pair.refresh_token).items():
        response = APIClient().get("/api/v1/users/profile", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 401, kind
    assert APIClient().get("/api/v1/users/profile", HTTP_AUTHORIZATION=f"Bearer {pair.access_token}").status_code == 200


def test_revoked_and_expired_api_keys_are_refused():
    trader = user_with_role("trader")
    revoked = auth.api_key_create(user_id=trader.pk, name="revoked", scopes=["*"], expires_at=None)
    auth.api_key_revoke(user_id=trader.pk, key_id=revoked.key_id)
    expired = auth.api_key_create(
        user_id=trader.pk, name="expired", scopes=["*"], expires_at=utc_now() - timedelta(seconds=1)
    )
    for key in (revoked.key, expired.key):
        assert APIClient().get("/api/v1/orders/active", HTTP_X_API_KEY=key).status_code == 401


def test_an_api_key_without_the_trading_scope_cannot_place_or_cancel_orders():
    trader = user_with_role("trader")
    key = auth.api_key_create(user_id=trader.pk, name="reader", scopes=["market_data.read"], expires_at=None).key
    order = {"symbol": "BTC/USDT", "side": "buy", "order_type": "market", "quantity": "0.001", "venue": "paper"}
    assert APIClient().post("/api/v1/orders", order, format="json", HTTP_X_API_KEY=key).status_code == 403
    assert APIClient().post("/api/v1/orders/1/cancel", {}, format="json", HTTP_X_API_KEY=key).status_code == 403


def test_one_user_cannot_revoke_or_list_another_users_api_keys():
    owner, other = user_with_role("trader"), user_with_role("trader")
    key = auth.api_key_create(user_id=owner.pk, name="mine", scopes=["*"], expires_at=None)
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {access_token_for(other)}")
    assert client.delete(f"/api/v1/auth/api-keys/{key.key_id}").status_code == 404
    assert [row["name"] for row in client.get("/api/v1/auth/api-keys").json()] == []
    assert auth.api_keys_list(user_id=owner.pk)[0].revoked_at is None
