"""Frozen dataclasses that cross the core domain's boundary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class UserSummary:
    user_id: int
    username: str
    email: str
    is_active: bool
    is_staff: bool
    date_joined: datetime


@dataclass(frozen=True)
class SecretMetadata:
    """What may be shown about a secret: never its value."""

    key: str
    version: int
    updated_at: datetime


# Values of a view's `required_permission` that are not permissions: open to anyone, or to any signed-in user.
PUBLIC = "public"
AUTHENTICATED = "authenticated"
# A view's `required_scope` that no API key satisfies, whatever its scopes: token and browser sessions only.
SESSIONS_ONLY = "sessions_only"


@dataclass(frozen=True)
class Principal:
    """Who is calling, as established by an access token or an API key."""

    user_id: int
    username: str
    roles: tuple[str, ...]
    permissions: tuple[str, ...]  # fnmatch patterns granted by the roles
    auth_method: str  # "jwt", "api_key", "session" (or "internal", "telegram": a job acting for a user)
    token_id: str  # the access token's jti, or the API key's prefix
    scopes: tuple[str, ...] | None = None  # an API key's scopes narrow the role's permissions
    expires_at: datetime | None = None


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    access_expires_at: datetime
    refresh_expires_at: datetime


@dataclass(frozen=True)
class ApiKeyCreated:
    """The only time the key itself is visible."""

    key_id: int
    name: str
    prefix: str
    key: str
    scopes: tuple[str, ...]
    expires_at: datetime | None


@dataclass(frozen=True)
class ApiKeySummary:
    key_id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class AuditRecord:
    entry_id: int
    occurred_at: datetime
    actor_id: int | None
    action: str
    target: str
    details: dict[str, object]
    ip_address: str | None


@dataclass(frozen=True)
class ConfigValue:
    key: str
    value: object
    version: int
    json_schema: dict[str, object] | None
    updated_at: datetime
    updated_by_id: int | None


@dataclass(frozen=True)
class NotificationReceipt:
    notification_id: int
    channel: str
    recipient: str
    status: str
    deduplicated: bool


@dataclass(frozen=True)
class NotificationView:
    """A notification as the web app lists it (the delivery log stays in core)."""

    notification_id: int
    channel: str
    recipient: str
    subject: str
    priority: str
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    last_error: str


@dataclass(frozen=True)
class WebSocketAccess:
    """`core.api.websocket_access`'s answer: who connects, or the close code to refuse with (4401 nobody or an
    invalid token, 4403 lacking the permission)."""

    principal: Principal | None
    close_code: int | None

    @property
    def allowed(self) -> bool:
        return self.close_code is None


class LoginRefused(ValueError):
    """Raised by `core.api.session_login`: wrong credentials, or throttled (`retry_after` seconds)."""

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# Config key linking Telegram chats to users for bot commands: {"<chat id>": "<username>"} (admins write config).
TELEGRAM_CHATS_CONFIG_KEY = "telegram.chat_ids"


@dataclass(frozen=True)
class TelegramUpdate:
    """One update of the Bot API's getUpdates. For anything but a text message `chat_id` and `text` are ""."""

    update_id: int
    chat_id: str
    text: str
    sent_at: int  # the message's unix time (0 when none): with update_id it tells a redelivery from a reused id


class TelegramUnavailable(RuntimeError):
    """No bot token, or the Bot API refused or could not be reached; the message names no token."""
