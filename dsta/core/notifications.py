"""Notifications: Telegram (Bot API over HTTP), email (SMTP) and webhooks (HMAC-SHA256 signed), with
priority, a deduplication window, a per-recipient rate limit, retries with exponential backoff (tenacity)
and a delivery log. Sending happens in a dramatiq actor (actors.py) after the request's transaction commits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import string
import time
import urllib.error
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import dramatiq
import structlog
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q

from dsta.core import audit, auth, selectors
from dsta.core.contracts import NotificationReceipt
from dsta.core.models import DeliveryAttempt, Notification, NotificationTemplate
from dsta.kernel import outbound
from dsta.kernel.clock import utc_now
from dsta.kernel.errors import InputError

log = structlog.get_logger(__name__)

URGENT = frozenset({Notification.Priority.HIGH, Notification.Priority.CRITICAL})
# Names of entries in the secret store (not the secrets themselves).
TELEGRAM_TOKEN_SECRET = "core/telegram/bot_token"  # noqa: S105
WEBHOOK_KEY_SECRET = "core/webhook/signing_key"  # noqa: S105
# The delivery actors (actors.py), found by name on the broker: actors imports this module, not the reverse.
DELIVER_ACTOR = "core_deliver_notification"
DELIVER_URGENT_ACTOR = "core_deliver_notification_urgent"


class NotificationError(InputError):
    """A notification request that cannot be sent as given (channel, recipient, body, priority)."""


class DeliveryError(RuntimeError):
    """A channel refused or failed; the message is safe to log (no tokens, no URLs with tokens)."""


# Accepting --------------------------------------------------------------------------------------------------------


def _check_recipient(channel: str, recipient: str) -> None:
    if channel == Notification.Channel.EMAIL:
        try:
            validate_email(recipient)
        except DjangoValidationError:
            raise NotificationError({"recipient": ["not an email address"]}) from None
    elif channel == Notification.Channel.WEBHOOK:
        parts = urlsplit(recipient)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise NotificationError({"recipient": ["a webhook recipient is an http(s) URL"]})
        try:
            outbound.check_url(recipient)  # checked again on delivery: the name may resolve elsewhere by then
        except outbound.OutboundRefused as exc:
            raise NotificationError({"recipient": [str(exc)]}) from None
    elif channel == Notification.Channel.TELEGRAM:
        if not recipient.lstrip("-").isdigit() and not recipient.startswith("@"):
            raise NotificationError({"recipient": ["a Telegram chat id (digits) or @channel name"]})
    else:
        raise NotificationError({"channel": [f"one of {', '.join(Notification.Channel.values)}"]})


def template_render(*, name: str, context: dict[str, Any]) -> tuple[str, str]:
    template = NotificationTemplate.objects.filter(name=name).first()
    if template is None:
        raise NotificationError({"template": [f"no template named {name!r}"]})
    try:
        values = {key: str(value) for key, value in context.items()}
        return string.Template(template.subject).substitute(values), string.Template(template.body).substitute(values)
    except (KeyError, ValueError) as exc:
        raise NotificationError({"context": [f"template {name!r} needs {exc}"]}) from None


def template_save(*, name: str, subject: str, body: str, actor_id: int | None) -> NotificationTemplate:
    for field, text in (("subject", subject), ("body", body)):
        try:
            string.Template(text).substitute({key: "" for key in string.Template(text).get_identifiers()})
        except ValueError as exc:
            raise NotificationError({field: [f"not a valid template: {exc}"]}) from None
    with transaction.atomic():
        template, _ = NotificationTemplate.objects.update_or_create(
            name=name, defaults={"subject": subject, "body": body}
        )
        audit.record(actor_id=actor_id, action="notifications.template_saved", target=f"template:{name}")
    return template


def _rate_limited(channel: str, recipient: str) -> bool:
    """Fixed one-minute window per (channel, recipient), counted in Redis."""
    window = int(time.time() // 60)
    recipient_hash = hashlib.sha256(recipient.encode()).hexdigest()[:24]
    key = f"dsta:core:notify:rate:{channel}:{recipient_hash}:{window}"
    client = auth.redis_client()
    count = client.incr(key)
    if count == 1:
        client.expire(key, 120)
    return int(count) > settings.DSTA_NOTIFY_RATE_PER_MINUTE


def notification_send(
    *,
    channel: str,
    recipient: str,
    subject: str = "",
    body: str = "",
    template: str | None = None,
    context: dict[str, Any] | None = None,
    priority: str = Notification.Priority.NORMAL,
    dedup_key: str | None = None,
    requested_by_id: int | None = None,
) -> NotificationReceipt:
    """Accept a notification and queue it for delivery once the caller's transaction commits."""
    _check_recipient(channel, recipient)
    if priority not in Notification.Priority.values:
        raise NotificationError({"priority": [f"one of {', '.join(Notification.Priority.values)}"]})
    if template:
        subject, body = template_render(name=template, context=context or {})
    if not body:
        raise NotificationError({"body": ["a body or a template is required"]})
    key = dedup_key or hashlib.sha256(f"{channel}\n{recipient}\n{subject}\n{body}".encode()).hexdigest()
    with transaction.atomic():
        since = utc_now() - timedelta(seconds=settings.DSTA_NOTIFY_DEDUP_SECONDS)
        duplicate = (
            Notification.objects.filter(channel=channel, recipient=recipient, dedup_key=key, created_at__gte=since)
            .exclude(status__in=[Notification.Status.FAILED, Notification.Status.RATE_LIMITED])
            .order_by("-id")
            .first()
        )
        if duplicate is not None:
            return NotificationReceipt(duplicate.pk, channel, recipient, duplicate.status, deduplicated=True)
        # Critical messages are never held back by the rate limit; the rest are stored but not sent.
        limited = priority != Notification.Priority.CRITICAL and _rate_limited(channel, recipient)
        notification = Notification.objects.create(
            channel=channel,
            recipient=recipient,
            subject=subject[:200],
            body=body,
            priority=priority,
            dedup_key=key[:64],
            status=Notification.Status.RATE_LIMITED if limited else Notification.Status.QUEUED,
            requested_by_id=requested_by_id,
        )
        if not limited:
            transaction.on_commit(lambda: _enqueue(notification.pk, priority))
    return NotificationReceipt(notification.pk, channel, recipient, notification.status, deduplicated=False)


def _enqueue(notification_id: int, priority: str) -> None:
    actor_name = DELIVER_URGENT_ACTOR if priority in URGENT else DELIVER_ACTOR
    dramatiq.get_broker().get_actor(actor_name).send(notification_id)


def stranded_resend(*, limit: int = 500) -> int:
    """Queue again the notifications nothing is delivering: still `queued` a while after they were accepted
    (the enqueue after commit failed, e.g. the broker was down) or `sending` under a stale claim (the worker
    died and its message is gone). A message queued twice is harmless: only one worker can claim it. Run by
    the scheduler; returns how many were queued."""
    now = utc_now()
    unsent_since = now - timedelta(seconds=settings.DSTA_NOTIFY_STRANDED_SECONDS)
    claimed_before = now - timedelta(seconds=settings.DSTA_NOTIFY_CLAIM_SECONDS)
    stranded = Q(status=Notification.Status.QUEUED, created_at__lt=unsent_since) | Q(
        status=Notification.Status.SENDING, claimed_at__lt=claimed_before
    )
    rows = list(Notification.objects.filter(stranded).order_by("id").values_list("id", "priority")[:limit])
    for notification_id, priority in rows:
        _enqueue(notification_id, priority)
    if rows:
        log.warning("notifications_stranded_requeued", count=len(rows))
    return len(rows)


# Delivering -------------------------------------------------------------------------------------------------------


def _post(url: str, payload: bytes, headers: dict[str, str], *, what: str) -> bytes:
    # Through the outbound guard: public addresses only (or the operator's allowlist), no redirects.
    try:
        return outbound.post(
            url,
            body=payload,
            headers={"Content-Type": "application/json", **headers},
            timeout=settings.DSTA_NOTIFY_HTTP_TIMEOUT_SECONDS,
        )
    except outbound.OutboundRefused as exc:
        raise DeliveryError(f"{what} refused: {exc}") from None
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"{what} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"{what} unreachable: {type(reason).__name__}") from None


def telegram_token() -> str:
    return selectors.secret_value(key=TELEGRAM_TOKEN_SECRET) or settings.DSTA_TELEGRAM_BOT_TOKEN


def telegram_call(method: str, payload: dict[str, Any]) -> dict[str, Any]:
    """One Bot API method (`sendMessage`, `getUpdates`) and its JSON answer; DeliveryError when there is no
    token, the API fails or it answers ok=false."""
    token = telegram_token()
    if not token:
        raise DeliveryError(f"no Telegram bot token (secret {TELEGRAM_TOKEN_SECRET})")
    # The URL holds the token: it is never logged, and errors name only "telegram".
    answer = _post(
        f"{settings.DSTA_TELEGRAM_API_URL.rstrip('/')}/bot{token}/{method}",
        json.dumps(payload).encode(),
        {},
        what="telegram",
    )
    try:
        parsed = json.loads(answer or b"{}")
    except ValueError:
        raise DeliveryError("telegram answered no JSON") from None
    if not isinstance(parsed, dict) or not parsed.get("ok"):
        raise DeliveryError("telegram answered ok=false")
    return parsed


def _telegram(notification: Notification) -> None:
    text = f"{notification.subject}\n\n{notification.body}" if notification.subject else notification.body
    telegram_call("sendMessage", {"chat_id": notification.recipient, "text": text})


def _email(notification: Notification) -> None:
    try:
        send_mail(
            notification.subject or "DSTA", notification.body, settings.DEFAULT_FROM_EMAIL, [notification.recipient]
        )
    except OSError as exc:  # smtplib errors derive from OSError
        raise DeliveryError(f"smtp: {type(exc).__name__}") from None


def webhook_signature(*, key: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<body>`: the timestamp binds the signature in time."""
    return "sha256=" + hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def webhook_key() -> str:
    stored = selectors.secret_value(key=WEBHOOK_KEY_SECRET)
    return (
        stored
        or settings.DSTA_WEBHOOK_SIGNING_KEY
        or hashlib.sha256(f"dsta-webhook:{settings.SECRET_KEY}".encode()).hexdigest()
    )


def _webhook(notification: Notification) -> None:
    body = json.dumps(
        {
            "id": notification.pk,
            "subject": notification.subject,
            "body": notification.body,
            "priority": notification.priority,
            "created_at": notification.created_at.isoformat(),
        },
        separators=(",", ":"),
    ).encode()
    timestamp = str(int(time.time()))
    headers = {
        "X-DSTA-Timestamp": timestamp,
        "X-DSTA-Signature": webhook_signature(key=webhook_key(), timestamp=timestamp, body=body),
        "X-DSTA-Notification": str(notification.pk),
    }
    _post(notification.recipient, body, headers, what="webhook")


SENDERS: dict[str, Callable[[Notification], None]] = {
    Notification.Channel.TELEGRAM: _telegram,
    Notification.Channel.EMAIL: _email,
    Notification.Channel.WEBHOOK: _webhook,
}


def _claim(notification_id: int) -> bool:
    """Atomically take a queued notification (or one whose sender died mid-way) for this worker."""
    now = utc_now()
    stale = now - timedelta(seconds=settings.DSTA_NOTIFY_CLAIM_SECONDS)
    claimable = Q(status=Notification.Status.QUEUED) | Q(status=Notification.Status.SENDING, claimed_at__lt=stale)
    taken = Notification.objects.filter(claimable, pk=notification_id).update(
        status=Notification.Status.SENDING, claimed_at=now
    )
    return bool(taken)


def deliver(*, notification_id: int) -> str:
    """Send one queued notification, retrying with exponential backoff; every try is logged. Returns the status."""
    if not _claim(notification_id):
        # Already sent, failed or being sent by another worker: a redelivered message has no second effect.
        current = Notification.objects.filter(pk=notification_id).values_list("status", flat=True).first()
        return current or "missing"
    notification = Notification.objects.get(pk=notification_id)
    sender = SENDERS[notification.channel]

    def attempt() -> None:
        notification.attempts += 1
        try:
            sender(notification)
        except DeliveryError as exc:
            DeliveryAttempt.objects.create(notification=notification, succeeded=False, detail=str(exc))
            raise
        DeliveryAttempt.objects.create(notification=notification, succeeded=True)

    from tenacity import RetryError, Retrying, stop_after_attempt, wait_exponential  # on first use: 0.1 s to load

    retrying = Retrying(
        stop=stop_after_attempt(settings.DSTA_NOTIFY_MAX_ATTEMPTS),
        wait=wait_exponential(multiplier=settings.DSTA_NOTIFY_BACKOFF_SECONDS, max=60),
        reraise=False,
    )
    try:
        retrying(attempt)
        notification.status, notification.sent_at, notification.last_error = Notification.Status.SENT, utc_now(), ""
    except RetryError as exc:
        notification.status = Notification.Status.FAILED
        notification.last_error = str(exc.last_attempt.exception())
        log.warning(
            "notification_failed",
            notification_id=notification.pk,
            channel=notification.channel,
            error=notification.last_error,
        )
    notification.save(update_fields=["status", "sent_at", "last_error", "attempts"])
    return str(notification.status)


def history(
    *, channel: str | None = None, status: str | None = None, recipient: str | None = None, limit: int = 100
) -> list[Notification]:
    rows = Notification.objects.prefetch_related("delivery_attempts").order_by("-id")
    if channel:
        rows = rows.filter(channel=channel)
    if status:
        rows = rows.filter(status=status)
    if recipient:
        rows = rows.filter(recipient=recipient)
    return list(rows[:limit])


# Events from other domains ----------------------------------------------------------------------------------------

ROUTES_CONFIG_KEY = "notifications.routes"


def notify_event(
    *, event_name: str, event_id: str, payload: dict[str, Any], priority: str
) -> list[NotificationReceipt]:
    """Fan an event out to the recipients configured under config key `notifications.routes`:
    {"trading.risk_violation": [{"channel": "telegram", "recipient": "12345"}], ...}."""
    from dsta.core.config import config_get

    routes = config_get(key=ROUTES_CONFIG_KEY)
    targets = (routes.value if routes and isinstance(routes.value, dict) else {}).get(event_name, [])
    summary = ", ".join(f"{key}={value}" for key, value in sorted(payload.items()))
    receipts = []
    for target in targets:
        try:
            receipts.append(
                notification_send(
                    channel=target["channel"],
                    recipient=target["recipient"],
                    subject=event_name.replace("_", " "),
                    body=summary,
                    priority=priority,
                    dedup_key=hashlib.sha256(
                        f"{event_id}:{target['channel']}:{target['recipient']}".encode()
                    ).hexdigest(),
                )
            )
        except (NotificationError, KeyError, TypeError):
            log.warning("notification_route_invalid", event_name=event_name, target=str(target)[:200])
    return receipts
