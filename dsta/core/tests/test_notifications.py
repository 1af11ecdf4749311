from __future__ import annotations

import hashlib
import hmac
import uuid

import pytest
from rest_framework.test import APIClient

from dsta.core import api, auth, notifications
from dsta.core.models import DeliveryAttempt, Notification
from dsta.core.tests.factories import access_token_for, bearer, user_with_role
from dsta.core.tests.servers import HttpRecorder, smtp_server
from dsta.kernel.events import EventEnvelope
from dsta.kernel.handlers import deliver as deliver_events

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick_retries(settings):
    settings.DSTA_NOTIFY_BACKOFF_SECONDS = 0.01
    settings.DSTA_NOTIFY_MAX_ATTEMPTS = 4
    settings.DSTA_OUTBOUND_ALLOWLIST = ["127.0.0.1"]  # the local servers below; loopback is refused by default
    client = auth.redis_client()
    for key in client.scan_iter("dsta:core:notify:*"):
        client.delete(key)


@pytest.fixture
def http_server():
    server = HttpRecorder().start()
    yield server
    server.stop()


@pytest.fixture
def trader_client():
    client = APIClient()
    client.credentials(**bearer(access_token_for(user_with_role("trader"))))
    return client


def test_webhook_is_signed_retried_with_backoff_and_logged(
    trader_client, http_server, django_capture_on_commit_callbacks
):
    http_server.statuses = [500, 503]  # two failures, then success
    with django_capture_on_commit_callbacks() as queued:
        response = trader_client.post(
            "/api/v1/notifications/send",
            {
                "channel": "webhook",
                "recipient": f"{http_server.url}/hook",
                "subject": "Fill",
                "body": "BTC 0.1 @ 60000",
            },
            format="json",
        )
    assert response.status_code == 202
    receipt = response.json()
    assert receipt["status"] == "queued" and not receipt["deduplicated"]
    assert len(queued) == 1  # the delivery is enqueued only once the request's transaction commits

    assert notifications.deliver(notification_id=receipt["notification_id"]) == "sent"
    assert len(http_server.requests) == 3
    request = http_server.requests[-1]
    assert request.path == "/hook"
    assert request.json()["body"] == "BTC 0.1 @ 60000"
    expected = hmac.new(
        notifications.webhook_key().encode(),
        request.headers["x-dsta-timestamp"].encode() + b"." + request.body,
        hashlib.sha256,
    ).hexdigest()
    assert request.headers["x-dsta-signature"] == f"sha256={expected}"

    attempts = list(DeliveryAttempt.objects.filter(notification_id=receipt["notification_id"]).order_by("id"))
    assert [(a.succeeded, a.detail) for a in attempts] == [
        (False, "webhook answered HTTP 500"),
        (False, "webhook answered HTTP 503"),
        (True, ""),
    ]
    history = trader_client.get("/api/v1/notifications/history", {"channel": "webhook"}).json()
    assert history[0]["status"] == "sent" and history[0]["attempts"] == 3
    assert len(history[0]["delivery_attempts"]) == 3
    # A redelivered actor message does not send twice.
    assert notifications.deliver(notification_id=receipt["notification_id"]) == "sent"
    assert len(http_server.requests) == 3


def test_a_channel_that_keeps_failing_ends_failed_after_the_attempt_budget(http_server):
    http_server.statuses = [500] * 10
    receipt = api.notification_send(channel="webhook", recipient=f"{http_server.url}/down", body="x")
    assert notifications.deliver(notification_id=receipt.notification_id) == "failed"
    notification = Notification.objects.get(pk=receipt.notification_id)
    assert (notification.attempts, notification.last_error) == (4, "webhook answered HTTP 500")
    assert len(http_server.requests) == 4


def test_telegram_goes_through_the_bot_api_and_the_token_stays_secret(http_server, settings):
    token = "123456:telegram-token-value"
    settings.DSTA_TELEGRAM_API_URL = http_server.url
    api.secret_set(key=notifications.TELEGRAM_TOKEN_SECRET, value=token)
    receipt = api.notification_send(channel="telegram", recipient="-100200300", subject="Risk", body="limit hit")
    assert notifications.deliver(notification_id=receipt.notification_id) == "sent"
    request = http_server.requests[0]
    assert request.path == f"/bot{token}/sendMessage"
    assert request.json() == {"chat_id": "-100200300", "text": "Risk\n\nlimit hit"}

    http_server.statuses = [500] * 10
    failing = api.notification_send(channel="telegram", recipient="42", body="again")
    assert notifications.deliver(notification_id=failing.notification_id) == "failed"
    details = list(DeliveryAttempt.objects.values_list("detail", flat=True))
    assert "telegram answered HTTP 500" in details
    assert all(token not in detail for detail in details)
    assert token not in Notification.objects.get(pk=failing.notification_id).last_error


def test_email_is_delivered_over_smtp(settings):
    controller, mailbox = smtp_server()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"  # pytest-django swaps in locmem
        settings.EMAIL_HOST, settings.EMAIL_PORT = controller.hostname, controller.port
        receipt = api.notification_send(
            channel="email", recipient="trader@example.test", subject="Daily P&L", body="+1.5%"
        )
        assert notifications.deliver(notification_id=receipt.notification_id) == "sent"
    finally:
        controller.stop()
    [(sender, recipients, content)] = mailbox.messages
    assert (sender, recipients) == (settings.DEFAULT_FROM_EMAIL, ["trader@example.test"])
    assert "Subject: Daily P&L" in content and "+1.5%" in content


def test_templates_render_and_bad_input_is_400(trader_client):
    admin = APIClient()
    admin.credentials(**bearer(access_token_for(user_with_role("admin"))))
    created = admin.post(
        "/api/v1/notifications/templates",
        {"name": "fill", "subject": "Fill $symbol", "body": "$side $qty $symbol @ $price"},
        format="json",
    )
    assert created.status_code == 201
    assert admin.post("/api/v1/notifications/templates", {"name": "bad", "body": "$"}, format="json").status_code == 400
    response = trader_client.post(
        "/api/v1/notifications/send",
        {
            "channel": "email",
            "recipient": "t@example.test",
            "template": "fill",
            "context": {"side": "buy", "qty": "0.5", "symbol": "ETH/USDT", "price": "3000"},
        },
        format="json",
    )
    assert response.status_code == 202
    notification = Notification.objects.get(pk=response.json()["notification_id"])
    assert (notification.subject, notification.body) == ("Fill ETH/USDT", "buy 0.5 ETH/USDT @ 3000")
    missing = trader_client.post(
        "/api/v1/notifications/send",
        {"channel": "email", "recipient": "t@example.test", "template": "fill", "context": {}},
        format="json",
    )
    assert missing.status_code == 400 and "context" in missing.json()
    bad = trader_client.post(
        "/api/v1/notifications/send", {"channel": "email", "recipient": "not-an-email", "body": "x"}, format="json"
    )
    assert bad.status_code == 400 and "recipient" in bad.json()
    unknown = trader_client.post("/api/v1/notifications/send", {"channel": "pigeon", "recipient": "x"}, format="json")
    assert unknown.status_code == 400 and "channel" in unknown.json()


def test_duplicates_within_the_window_are_dropped(settings):
    first = api.notification_send(channel="email", recipient="a@example.test", subject="s", body="same")
    again = api.notification_send(channel="email", recipient="a@example.test", subject="s", body="same")
    assert again.deduplicated and again.notification_id == first.notification_id
    keyed = api.notification_send(channel="email", recipient="a@example.test", body="other text", dedup_key="k1")
    assert api.notification_send(channel="email", recipient="a@example.test", body="new", dedup_key="k1").deduplicated
    settings.DSTA_NOTIFY_DEDUP_SECONDS = 0
    later = api.notification_send(channel="email", recipient="a@example.test", subject="s", body="same")
    assert not later.deduplicated and later.notification_id not in (first.notification_id, keyed.notification_id)


def test_rate_limit_per_recipient_spares_critical_messages(settings, django_capture_on_commit_callbacks):
    settings.DSTA_NOTIFY_RATE_PER_MINUTE = 2
    with django_capture_on_commit_callbacks() as queued:
        statuses = [
            api.notification_send(channel="email", recipient="busy@example.test", body=f"m{i}").status for i in range(4)
        ]
        other = api.notification_send(channel="email", recipient="calm@example.test", body="m").status
        critical = api.notification_send(
            channel="email", recipient="busy@example.test", body="margin call", priority="critical"
        ).status
    assert statuses == ["queued", "queued", "rate_limited", "rate_limited"]
    assert (other, critical) == ("queued", "queued")
    assert len(queued) == 4  # rate-limited ones are kept in the log but never sent


def test_urgent_priorities_go_to_their_own_queue(redis_client, django_capture_on_commit_callbacks):
    from dsta.core.actors import NOTIFICATIONS_QUEUE, URGENT_NOTIFICATIONS_QUEUE

    def queued(queue: str) -> int:
        return int(redis_client.hlen(f"dramatiq:{queue}.msgs"))

    before = queued(URGENT_NOTIFICATIONS_QUEUE), queued(NOTIFICATIONS_QUEUE)
    with django_capture_on_commit_callbacks(execute=True):
        api.notification_send(channel="email", recipient="p@example.test", body="hi", priority="high")
        api.notification_send(channel="email", recipient="p@example.test", body="lo", priority="low")
    assert queued(URGENT_NOTIFICATIONS_QUEUE) == before[0] + 1
    assert queued(NOTIFICATIONS_QUEUE) == before[1] + 1


def envelope(name: str, payload: dict) -> EventEnvelope:
    return EventEnvelope(str(uuid.uuid4()), name, 1, "trading", "risk:1", "2026-11-24T00:00:00+00:00", payload, 1)


def test_risk_violations_and_fills_notify_the_configured_routes_once(django_capture_on_commit_callbacks, monkeypatch):
    from dsta.kernel import handlers

    # Only core's consumers: other domains also subscribe to these events (trading to exchange.fill), and
    # this test's payloads are shaped for the notification router only.
    core_only = {key: sub for key, sub in handlers._subscriptions.items() if sub.using == "default"}
    monkeypatch.setattr(handlers, "_subscriptions", core_only)
    api.config_set(
        key=notifications.ROUTES_CONFIG_KEY,
        value={
            "trading.risk_violation": [
                {"channel": "telegram", "recipient": "777"},
                {"channel": "email", "recipient": "risk@example.test"},
            ],
            "exchange.fill": [{"channel": "webhook", "recipient": "http://127.0.0.1:9/fills"}],
        },
    )
    violation = envelope("trading.risk_violation", {"rule": "max_position", "symbol": "BTC/USDT", "limit": "1000"})
    fill = envelope("exchange.fill", {"order_id": "o-1", "qty": "0.1"})
    with django_capture_on_commit_callbacks():
        assert deliver_events([violation, fill]) == 2
        assert deliver_events([violation, fill]) == 0  # redelivered: the inbox absorbs it
    risk = list(Notification.objects.filter(subject="trading.risk violation").order_by("channel"))
    assert [(n.channel, n.recipient, n.priority) for n in risk] == [
        ("email", "risk@example.test", "critical"),
        ("telegram", "777", "critical"),
    ]
    assert risk[0].body == "limit=1000, rule=max_position, symbol=BTC/USDT"
    assert Notification.objects.filter(channel="webhook", recipient="http://127.0.0.1:9/fills").count() == 1


def test_a_notification_is_sent_by_one_worker_and_reclaimed_after_a_crash(http_server, settings):
    from datetime import timedelta

    from dsta.kernel.clock import utc_now

    receipt = api.notification_send(channel="webhook", recipient=f"{http_server.url}/once", body="x")
    # Another worker holds it (claimed a moment ago): this one leaves it alone.
    Notification.objects.filter(pk=receipt.notification_id).update(status="sending", claimed_at=utc_now())
    assert notifications.deliver(notification_id=receipt.notification_id) == "sending"
    assert http_server.requests == []
    # That worker died long ago: the claim is stale and the message goes out.
    stale = utc_now() - timedelta(seconds=settings.DSTA_NOTIFY_CLAIM_SECONDS + 1)
    Notification.objects.filter(pk=receipt.notification_id).update(claimed_at=stale)
    assert notifications.deliver(notification_id=receipt.notification_id) == "sent"
    assert len(http_server.requests) == 1


def test_a_notification_whose_message_was_lost_is_queued_again_and_sent_once(http_server, settings, redis_client):
    from datetime import timedelta

    from dsta.core.actors import NOTIFICATIONS_QUEUE
    from dsta.kernel.clock import utc_now

    def queued() -> int:
        return int(redis_client.hlen(f"dramatiq:{NOTIFICATIONS_QUEUE}.msgs"))

    # Accepted, but its enqueue after commit never ran (as when the broker is down at that moment).
    receipt = api.notification_send(channel="webhook", recipient=f"{http_server.url}/lost", body="x")
    before = queued()
    assert notifications.stranded_resend() == 0  # too young to be called lost: its message may be on its way
    long_ago = utc_now() - timedelta(seconds=settings.DSTA_NOTIFY_STRANDED_SECONDS + 1)
    Notification.objects.filter(pk=receipt.notification_id).update(created_at=long_ago)
    assert notifications.stranded_resend() == 1
    assert queued() == before + 1
    assert notifications.deliver(notification_id=receipt.notification_id) == "sent"
    assert len(http_server.requests) == 1
    assert notifications.stranded_resend() == 0  # sent: nothing left to resend

    # A worker died holding another one: once its claim is stale it is queued again too.
    crashed = api.notification_send(channel="webhook", recipient=f"{http_server.url}/crashed", body="y")
    stale = utc_now() - timedelta(seconds=settings.DSTA_NOTIFY_CLAIM_SECONDS + 1)
    Notification.objects.filter(pk=crashed.notification_id).update(status="sending", claimed_at=stale)
    assert notifications.stranded_resend() == 1
