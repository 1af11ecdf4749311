"""Authentication: short-lived JWT access tokens, rotating refresh tokens with reuse detection, API keys,
roles and permissions, and login throttling with lockout (Redis counters)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from functools import cache
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import User
from django.db import connections, transaction

from dsta.core import audit, login_guard
from dsta.core.contracts import AUTHENTICATED, PUBLIC, SESSIONS_ONLY, ApiKeyCreated, ApiKeySummary, Principal, TokenPair
from dsta.core.models import ApiKey, RefreshToken, RevokedToken, Role
from dsta.kernel import installation_keys
from dsta.kernel.clock import utc_now

if TYPE_CHECKING:
    import redis

JWT_ALGORITHM = "HS256"
API_KEY_PREFIX = "dsta"


class AuthError(Exception):
    """Credentials or a token were refused. `code` is safe to show; the reason is deliberately vague."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


class LoginThrottled(AuthError):
    def __init__(self, retry_after: int) -> None:
        super().__init__("throttled", "too many login attempts")
        self.retry_after = retry_after


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def signing_key() -> str:
    """The installation's own random key (dsta/kernel/installation_keys.py); never one derived from the source."""
    configured: str = settings.DSTA_JWT_SIGNING_KEY
    installation_keys.refuse_weak("DSTA_JWT_SIGNING_KEY", configured)
    return configured


@cache
def _redis(url: str) -> redis.Redis:
    import redis  # on first use: redis-py's package import loads redis.asyncio (~0.1 s) and admin imports this module

    return redis.Redis.from_url(url)


def redis_client() -> redis.Redis:
    return _redis(settings.REDIS_URL)


# Roles and permissions -------------------------------------------------------------------------------------------


def roles_of(user: User) -> dict[str, list[str]]:
    """Role name -> permission patterns. A Django superuser is an admin."""
    preloaded = getattr(user, "_dsta_roles", None)  # set by _active_user_with_roles
    roles = (
        dict(preloaded)
        if preloaded is not None
        else {role.name: list(role.permissions) for role in Role.objects.filter(users=user)}
    )
    if getattr(user, "is_superuser", False):
        roles.setdefault("admin", ["*"])
    return roles


def principal_for(
    user: User,
    *,
    auth_method: str,
    token_id: str,
    scopes: tuple[str, ...] | None = None,
    expires_at: datetime | None = None,
) -> Principal:
    roles = roles_of(user)
    permissions = sorted({pattern for patterns in roles.values() for pattern in patterns})
    return Principal(
        user_id=user.pk,
        username=user.get_username(),
        roles=tuple(sorted(roles)),
        permissions=tuple(permissions),
        auth_method=auth_method,
        token_id=token_id,
        scopes=scopes,
        expires_at=expires_at,
    )


def permission_granted(principal: Principal | None, permission: str) -> bool:
    """Does `principal` hold `permission`? Roles grant it; an API key's scopes must allow it as well."""
    if permission == PUBLIC:
        return True
    if principal is None:
        return False
    if permission == AUTHENTICATED:
        return True
    if not any(fnmatchcase(permission, pattern) for pattern in principal.permissions):
        return False
    return scope_granted(principal, permission)  # a permission is its own scope


def scope_granted(principal: Principal | None, scope: str | None) -> bool:
    """May the caller's credentials be used where `scope` is needed? Only an API key is narrowed: one of its
    scope patterns must name `scope`. No scope (None) or SESSIONS_ONLY takes no key at all (fails closed)."""
    if principal is None or principal.scopes is None or scope == PUBLIC:
        return True
    if scope is None or scope == SESSIONS_ONLY:
        return False
    return any(fnmatchcase(scope, pattern) for pattern in principal.scopes)


# Login throttling and lockout ------------------------------------------------------------------------------------


def credentials_check(*, username: str, password: str, ip: str) -> User:
    """The active user behind a username and password, under the same throttle and lockout for every way
    of signing in (tokens, the web app's session, the Django admin). Raises LoginThrottled or AuthError."""
    client = redis_client()
    try:
        login_guard.check(client, username=username, ip=ip)
    except login_guard.Throttled as exc:
        raise LoginThrottled(retry_after=exc.retry_after) from None
    user = authenticate(username=username, password=password)
    if user is None or not user.is_active:
        locked = login_guard.failed(client, username=username, ip=ip)
        known = get_user_model().objects.filter(username=username).values_list("pk", flat=True).first()
        audit.record(
            actor_id=known, action="auth.login_failed", target=f"user:{username}", details={"locked": locked}, ip=ip
        )
        raise AuthError("invalid_credentials", "username or password is wrong")
    login_guard.succeeded(client, username=username, ip=ip)
    return user


def login(*, username: str, password: str, ip: str) -> TokenPair:
    user = credentials_check(username=username, password=password, ip=ip)
    pair = tokens_issue(user=user)
    audit.record(actor_id=user.pk, action="auth.login", target=f"user:{user.pk}", ip=ip)
    return pair


# Access and refresh tokens ---------------------------------------------------------------------------------------


def _access_token(user: User, family_id: uuid.UUID, now: datetime) -> tuple[str, datetime]:
    import jwt  # on first use: PyJWT loads cryptography, a tenth of a second of every command's start-up

    expires_at = now + timedelta(seconds=settings.DSTA_JWT_ACCESS_TTL_SECONDS)
    claims = {
        "iss": settings.DSTA_JWT_ISSUER,
        "sub": str(user.pk),
        "typ": "access",
        "jti": uuid.uuid4().hex,
        "fam": family_id.hex,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
    }
    return jwt.encode(claims, signing_key(), algorithm=JWT_ALGORITHM), expires_at


def _new_refresh_token(user: User, family_id: uuid.UUID, now: datetime) -> tuple[str, datetime]:
    token = "rt_" + secrets.token_urlsafe(32)
    expires_at = now + timedelta(seconds=settings.DSTA_JWT_REFRESH_TTL_SECONDS)
    RefreshToken.objects.create(
        user=user, family_id=family_id, token_hash=_sha256(token), issued_at=now, expires_at=expires_at
    )
    return token, expires_at


def tokens_issue(*, user: User, family_id: uuid.UUID | None = None) -> TokenPair:
    now = utc_now()
    family_id = family_id or uuid.uuid4()
    access, access_expires = _access_token(user, family_id, now)
    refresh, refresh_expires = _new_refresh_token(user, family_id, now)
    return TokenPair(access, refresh, access_expires, refresh_expires)


def family_revoke(*, family_id: uuid.UUID) -> None:
    """Ends a login: its refresh tokens stop working and so do access tokens already handed out."""
    now = utc_now()
    RefreshToken.objects.filter(family_id=family_id, revoked_at__isnull=True).update(revoked_at=now)
    expires = now + timedelta(seconds=settings.DSTA_JWT_ACCESS_TTL_SECONDS)
    RevokedToken.objects.get_or_create(
        value=family_id.hex, defaults={"kind": RevokedToken.Kind.FAMILY, "expires_at": expires}
    )


def token_refresh(*, refresh_token: str) -> TokenPair:
    now = utc_now()
    with transaction.atomic():
        row = (
            RefreshToken.objects.select_for_update()
            .select_related("user")
            .filter(token_hash=_sha256(refresh_token))
            .first()
        )
        if row is None or row.revoked_at is not None:
            raise AuthError("invalid_token", "refresh token is not valid")
        if row.used_at is not None:
            # A rotated token presented again: whoever holds it stole a copy. End the whole login.
            family_revoke(family_id=row.family_id)
            audit.record(
                actor_id=row.user_id, action="auth.refresh_reuse", target=f"family:{row.family_id}", details={}
            )
            reuse_detected = True
        else:
            reuse_detected = False
            if row.expires_at <= now or not row.user.is_active:
                raise AuthError("invalid_token", "refresh token is not valid")
            row.used_at = now
            row.save(update_fields=["used_at"])
            pair = tokens_issue(user=row.user, family_id=row.family_id)
    if reuse_detected:  # outside the atomic block, so the revocation commits before we refuse
        raise AuthError("token_reused", "refresh token was already used; the session is revoked")
    return pair


def _decode(token: str) -> dict[str, Any]:
    import jwt

    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            signing_key(),
            algorithms=[JWT_ALGORITHM],
            issuer=settings.DSTA_JWT_ISSUER,
            options={"require": ["exp", "iat", "jti", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token_expired", "access token has expired") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError("invalid_token", "access token is not valid") from exc
    if claims.get("typ") != "access" or not str(claims["sub"]).isdigit():
        raise AuthError("invalid_token", "not an access token")
    return claims


@cache
def _user_with_roles_sql() -> tuple[str, list[str]]:
    user_model = get_user_model()
    fields = list(user_model._meta.concrete_fields)
    memberships = Role.users.through._meta.db_table
    columns = ", ".join(f'u."{field.column}"' for field in fields)
    query = f"""
        SELECT {columns},
               EXISTS (SELECT 1 FROM {RevokedToken._meta.db_table} WHERE value = ANY(%s)),
               coalesce(jsonb_object_agg(r.name, r.permissions) FILTER (WHERE r.id IS NOT NULL), '{{}}'::jsonb)
        FROM {user_model._meta.db_table} AS u
        LEFT JOIN {memberships} AS m ON m.user_id = u.id
        LEFT JOIN {Role._meta.db_table} AS r ON r.id = m.role_id
        WHERE u.id = %s AND u.is_active
        GROUP BY u.id
    """  # table and column names come from Django model metadata; values go as %s # nosec B608
    return query, [field.attname for field in fields]


def _active_user_with_roles(user_id: int, revocation_values: list[str]) -> tuple[User | None, bool]:
    """The active user, their roles, and whether any of `revocation_values` is revoked, in one hand-written
    query: this runs on every authenticated request, where the ORM's query building costs more than the query."""
    query, attnames = _user_with_roles_sql()
    with connections["default"].cursor() as cursor:
        cursor.execute(query, [revocation_values, user_id])
        row = cursor.fetchone()
    if row is None:
        return None, False
    *values, revoked, roles = row
    user = get_user_model().from_db("default", attnames, values)
    user._dsta_roles = roles if isinstance(roles, dict) else json.loads(roles)  # type: ignore[attr-defined]
    return user, bool(revoked)


def access_token_authenticate(*, token: str) -> tuple[User, Principal]:
    """The user and principal behind an access token; raises AuthError when expired, forged or revoked."""
    claims = _decode(token)
    user, revoked = _active_user_with_roles(int(claims["sub"]), [claims["jti"], claims.get("fam", "")])
    if revoked:
        raise AuthError("token_revoked", "access token has been revoked")
    if user is None:
        raise AuthError("invalid_token", "user is not active")
    expires_at = datetime.fromtimestamp(claims["exp"], tz=utc_now().tzinfo)
    return user, principal_for(user, auth_method="jwt", token_id=claims["jti"], expires_at=expires_at)


def access_token_validate(*, token: str) -> Principal:
    return access_token_authenticate(token=token)[1]


def logout(*, access_token: str, refresh_token: str | None = None) -> None:
    claims = _decode(access_token)
    expires = datetime.fromtimestamp(claims["exp"], tz=utc_now().tzinfo)
    with transaction.atomic():
        RevokedToken.objects.get_or_create(
            value=claims["jti"], defaults={"kind": RevokedToken.Kind.JTI, "expires_at": expires}
        )
        if claims.get("fam"):
            family_revoke(family_id=uuid.UUID(claims["fam"]))
        if refresh_token:
            row = RefreshToken.objects.filter(token_hash=_sha256(refresh_token), user_id=int(claims["sub"])).first()
            if row is not None:
                family_revoke(family_id=row.family_id)
        audit.record(actor_id=int(claims["sub"]), action="auth.logout", target=f"user:{claims['sub']}")


# API keys --------------------------------------------------------------------------------------------------------


def api_key_create(
    *, user_id: int, name: str, scopes: list[str], expires_at: datetime | None, ip: str | None = None
) -> ApiKeyCreated:
    # Scopes only narrow: a key's effective permissions are its owner's roles intersected with its scopes.
    user = get_user_model().objects.get(pk=user_id)
    prefix = secrets.token_hex(6)
    key = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        row = ApiKey.objects.create(
            user=user, name=name, prefix=prefix, key_hash=_sha256(key), scopes=scopes, expires_at=expires_at
        )
        audit.record(
            actor_id=user_id,
            action="auth.api_key_created",
            target=f"api_key:{row.pk}",
            details={"prefix": prefix, "name": name, "scopes": scopes},
            ip=ip,
        )
    return ApiKeyCreated(row.pk, name, prefix, key, tuple(scopes), expires_at)


def _api_key_summary(row: ApiKey) -> ApiKeySummary:
    return ApiKeySummary(
        row.pk,
        row.name,
        row.prefix,
        tuple(row.scopes),
        row.created_at,
        row.expires_at,
        row.revoked_at,
        row.last_used_at,
    )


def api_keys_list(*, user_id: int) -> list[ApiKeySummary]:
    return [_api_key_summary(row) for row in ApiKey.objects.filter(user_id=user_id).order_by("-id")]


def api_key_revoke(*, user_id: int, key_id: int) -> bool:
    with transaction.atomic():
        revoked = ApiKey.objects.filter(pk=key_id, user_id=user_id, revoked_at__isnull=True).update(
            revoked_at=utc_now()
        )
        if revoked:
            audit.record(actor_id=user_id, action="auth.api_key_revoked", target=f"api_key:{key_id}")
    return bool(revoked)


def api_key_authenticate(*, key: str) -> tuple[User, Principal]:
    """The user and principal behind an API key; raises AuthError when unknown, expired or revoked."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        raise AuthError("invalid_key", "API key is not valid")
    row = ApiKey.objects.select_related("user").filter(prefix=parts[1]).first()
    now = utc_now()
    if row is None or not hmac.compare_digest(row.key_hash, _sha256(key)):
        raise AuthError("invalid_key", "API key is not valid")
    if row.revoked_at is not None:
        raise AuthError("key_revoked", "API key has been revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise AuthError("key_expired", "API key has expired")
    if not row.user.is_active:
        raise AuthError("invalid_key", "API key is not valid")
    # Throttled write: last use to the minute is plenty and keeps the hot path read-only.
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        ApiKey.objects.filter(pk=row.pk).update(last_used_at=now)
    principal = principal_for(
        row.user, auth_method="api_key", token_id=row.prefix, scopes=tuple(row.scopes), expires_at=row.expires_at
    )
    return row.user, principal


def api_key_validate(*, key: str) -> Principal:
    return api_key_authenticate(key=key)[1]
