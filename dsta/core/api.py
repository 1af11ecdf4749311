"""Facade of the core domain: other domains reach users, auth and config only through here."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from dsta.core import audit, auth, config, notifications, selectors, services, telegram
from dsta.core.contracts import (
    AuditRecord,
    ConfigValue,
    LoginRefused,
    NotificationReceipt,
    NotificationView,
    Principal,
    SecretMetadata,
    TelegramUpdate,
    UserSummary,
    WebSocketAccess,
)


def user_get(*, user_id: int) -> UserSummary | None:
    """A user by id (other domains store `user_id` as a plain integer), or None if there is none."""
    return selectors.user_get(user_id=user_id)


def secret_get(*, key: str) -> str | None:
    """Decrypted value of a stored secret (e.g. `exchange/binance/api_key`), or None. Callers must not log it."""
    return selectors.secret_value(key=key)


def secret_set(*, key: str, value: str, actor_id: int | None = None) -> SecretMetadata:
    """Store a secret encrypted under the newest Fernet key; returns its metadata, never the value."""
    return services.secret_set(key=key, value=value, actor_id=actor_id)


def token_validate(*, token: str) -> Principal | None:
    """The principal behind an access token or API key, or None when it is invalid, expired or revoked."""
    try:
        if token.startswith(f"{auth.API_KEY_PREFIX}_"):
            return auth.api_key_validate(key=token)
        return auth.access_token_validate(token=token)
    except auth.AuthError:
        return None


def permission_check(*, principal: Principal | None, permission: str) -> bool:
    """Does `principal` (None: anonymous) hold `permission` (e.g. `trading.order.create`, or PUBLIC/AUTHENTICATED)?"""
    return auth.permission_granted(principal, permission)


def user_permission_check(*, user_id: int, permission: str) -> bool:
    """`permission_check` for a user id, as a background job acting for a user needs it."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    return auth.permission_granted(auth.principal_for(user, auth_method="internal", token_id=""), permission)


def websocket_access(*, token: str, session_user_id: int | None, permission: str) -> WebSocketAccess:
    """May a WebSocket caller connect? By its token (access token or API key, see dsta/kernel/websocket.py for
    where it travels) or else its session's user; 4401 when nobody valid is signed in, 4403 without `permission`.
    Once connected, dsta/core/websocket_guard.py checks the same credentials again while the socket lives."""
    principal: Principal | None = None
    if token:
        principal = token_validate(token=token)
    elif session_user_id is not None:
        user = get_user_model().objects.filter(pk=session_user_id, is_active=True).first()
        if user is not None:
            principal = auth.principal_for(user, auth_method="session", token_id="")
    if principal is None:
        return WebSocketAccess(principal=None, close_code=4401)
    if not permission_check(principal=principal, permission=permission):
        return WebSocketAccess(principal=principal, close_code=4403)
    return WebSocketAccess(principal=principal, close_code=None)


def audit_record(
    *,
    actor_id: int | None,
    action: str,
    target: str,
    details: dict[str, object] | None = None,
    ip_address: str | None = None,
) -> AuditRecord:
    """Append to the audit log (e.g. trading records orders and risk-limit changes here); `ip_address` is the
    client's address when a request asked for it."""
    return audit.record(actor_id=actor_id, action=action, target=target, details=details, ip=ip_address)


def config_get(*, key: str) -> ConfigValue | None:
    """The current value of a config key (e.g. `risk.limits`), or None."""
    return config.config_get(key=key)


def config_set(*, key: str, value: object, actor_id: int | None = None, comment: str = "") -> ConfigValue:
    """A new version of `key`, validated by the key's JSON schema; raises ValueError when it does not fit."""
    return config.config_set(key=key, value=value, actor_id=actor_id, comment=comment)


def feature_enabled(*, name: str, user_id: int | None) -> bool:
    """Is feature flag `name` on for this user (by id, by role, or by percentage rollout)?"""
    roles: tuple[str, ...] = ()
    if user_id is not None:
        user = get_user_model().objects.filter(pk=user_id).first()
        roles = tuple(auth.roles_of(user)) if user is not None else ()
    return config.feature_enabled(name=name, user_id=user_id, roles=roles)


def notification_send(
    *,
    channel: str,
    recipient: str,
    subject: str = "",
    body: str = "",
    template: str | None = None,
    context: dict[str, str] | None = None,
    priority: str = "normal",
    dedup_key: str | None = None,
) -> NotificationReceipt:
    """Queue a Telegram / email / webhook notification (sent after the caller's transaction commits).
    Raises ValueError on a bad channel, recipient, priority or template."""
    return notifications.notification_send(
        channel=channel,
        recipient=recipient,
        subject=subject,
        body=body,
        template=template,
        context=context,
        priority=priority,
        dedup_key=dedup_key,
    )


def notifications_list(*, limit: int = 100) -> list[NotificationView]:
    """The latest notifications, newest first."""
    return [
        NotificationView(
            notification_id=row.pk,
            channel=row.channel,
            recipient=row.recipient,
            subject=row.subject,
            priority=row.priority,
            status=row.status,
            attempts=row.attempts,
            created_at=row.created_at,
            sent_at=row.sent_at,
            last_error=row.last_error,
        )
        for row in notifications.history(limit=limit)
    ]


def telegram_updates_get(*, offset: int | None, limit: int = 100) -> list[TelegramUpdate]:
    """Pending Telegram Bot API updates from `offset` on (earlier ones are confirmed and dropped by the API),
    oldest first. Raises TelegramUnavailable (no token, the API failed or refused)."""
    return telegram.updates_get(offset=offset, limit=limit)


def telegram_chat_principal_get(*, chat_id: str) -> Principal | None:
    """The active user a Telegram chat is linked to (config key `telegram.chat_ids`), with roles and
    permissions, or None for a chat nobody linked. Replies go out with `notification_send(channel="telegram")`."""
    return telegram.chat_principal(chat_id=chat_id)


def session_login(*, username: str, password: str, ip: str, via: str = "session") -> UserSummary:
    """Check a browser sign-in under the same throttle, lockout and audit as token logins; the caller then starts
    its own session for the returned user (core sees no request objects). Raises LoginRefused."""
    try:
        user = auth.credentials_check(username=username, password=password, ip=ip)
    except auth.LoginThrottled as exc:
        raise LoginRefused("Too many login attempts; try again later.", retry_after=exc.retry_after) from None
    except auth.AuthError:
        raise LoginRefused("Username or password is wrong.") from None
    audit.record(actor_id=user.pk, action="auth.login", target=f"user:{user.pk}", details={"via": via}, ip=ip)
    summary = selectors.user_get(user_id=user.pk)
    assert summary is not None
    return summary


def session_logout(*, user_id: int) -> None:
    """Say in the audit log that a browser session ended (the caller ends the session itself)."""
    audit.record(actor_id=user_id, action="auth.logout", target=f"user:{user_id}", details={"via": "session"})
