"""The Telegram Bot API beyond notifications: reading updates (getUpdates) and the chats linked to users.

A chat is linked to a user by the admin-written config key `telegram.chat_ids` ({"<chat id>": "<username>"}),
not by a user's own preferences: whoever may link a chat may act as that user from it, so only admins do.
Replies travel as ordinary Telegram notifications (`notifications.notification_send`).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from dsta.core import auth, config, notifications
from dsta.core.contracts import TELEGRAM_CHATS_CONFIG_KEY, Principal, TelegramUnavailable, TelegramUpdate


def _update_of(raw: Any) -> TelegramUpdate | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("update_id"), int):
        return None
    message = raw.get("message")
    if not isinstance(message, dict):
        return TelegramUpdate(update_id=raw["update_id"], chat_id="", text="", sent_at=0)
    chat = message.get("chat")
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    text = message.get("text")
    sent_at = message.get("date")
    return TelegramUpdate(
        update_id=raw["update_id"],
        chat_id=str(chat_id) if isinstance(chat_id, int) and isinstance(text, str) else "",
        text=text[:4096] if isinstance(text, str) and isinstance(chat_id, int) else "",
        sent_at=sent_at if isinstance(sent_at, int) else 0,
    )


def updates_get(*, offset: int | None, limit: int) -> list[TelegramUpdate]:
    """The pending updates from `offset` on (getUpdates confirms, and so drops, every earlier one), oldest
    first; a short poll (timeout 0), since the scheduler calls again. Raises TelegramUnavailable."""
    payload: dict[str, Any] = {"timeout": 0, "limit": max(1, min(limit, 100)), "allowed_updates": ["message"]}
    if offset is not None:
        payload["offset"] = offset
    try:
        answer = notifications.telegram_call("getUpdates", payload)
    except notifications.DeliveryError as exc:
        raise TelegramUnavailable(str(exc)) from None
    results = answer.get("result")
    updates = [update for update in map(_update_of, results if isinstance(results, list) else []) if update]
    return sorted(updates, key=lambda update: update.update_id)


def chat_principal(*, chat_id: str) -> Principal | None:
    """Who a chat is linked to (an active user, with roles and permissions), or None."""
    entry = config.config_get(key=TELEGRAM_CHATS_CONFIG_KEY)
    links = entry.value if entry is not None and isinstance(entry.value, dict) else {}
    username = links.get(chat_id)
    if not chat_id or not isinstance(username, str) or not username:
        return None
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        return None
    return auth.principal_for(user, auth_method="telegram", token_id=chat_id)
