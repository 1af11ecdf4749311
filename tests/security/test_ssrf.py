"""Issue 20.8: no request to an internal address through a URL a user sets (webhooks, the Telegram API base)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rest_framework.test import APIClient

from dsta.core import api, notifications
from dsta.core.models import Notification
from dsta.core.tests.factories import access_token_for, bearer, user_with_role
from dsta.core.tests.servers import HttpRecorder

pytestmark = pytest.mark.django_db

INTERNAL = [
    "http://127.0.0.1:1/",
    "http://127.0.0.1:55432/",
    "http://127.0.0.1:8000/api/v1/orders",
    "http://localhost:6379/",  # a name that resolves to loopback
    "http://2130706433/",  # 127.0.0.1 as one number
    "http://[::1]:8000/",
    "http://[::ffff:127.0.0.1]:8000/",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://10.0.0.5/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # shared address space
    "http://0.0.0.0:8000/",
]


@pytest.fixture(autouse=True)
def _fresh_rate_limits(settings):
    from dsta.core import auth

    settings.DSTA_NOTIFY_BACKOFF_SECONDS = 0.01
    settings.DSTA_NOTIFY_MAX_ATTEMPTS = 1
    for key in auth.redis_client().scan_iter("dsta:core:notify:*"):
        auth.redis_client().delete(key)


@pytest.fixture
def server():
    recorder = HttpRecorder().start()
    yield recorder
    recorder.stop()


def test_a_trader_cannot_point_a_webhook_at_an_internal_address():
    client = APIClient()
    client.credentials(**bearer(access_token_for(user_with_role("trader"))))
    for url in INTERNAL:
        response = client.post(
            "/api/v1/notifications/send", {"channel": "webhook", "recipient": url, "body": "x"}, format="json"
        )
        assert response.status_code == 400, url
        assert "not a public address" in response.json()["recipient"][0], url
    assert not Notification.objects.exists()


def test_delivery_checks_the_address_again_and_sends_nothing_inside(server):
    # Stored while the name pointed elsewhere (or before this guard): the delivery resolves and refuses again.
    row = Notification.objects.create(channel="webhook", recipient=f"{server.url}/hook", body="x", dedup_key="k")
    assert notifications.deliver(notification_id=row.pk) == "failed"
    assert server.requests == []
    row.refresh_from_db()
    assert row.last_error.startswith("webhook refused: 127.0.0.1 is not a public address")


def test_the_operator_allowlist_opens_one_host_and_port_only(server, settings):
    host_port = server.url.removeprefix("http://")
    settings.DSTA_OUTBOUND_ALLOWLIST = [host_port]
    receipt = api.notification_send(channel="webhook", recipient=f"{server.url}/hook", body="x")
    assert notifications.deliver(notification_id=receipt.notification_id) == "sent"
    assert len(server.requests) == 1
    with pytest.raises(ValueError, match="not a public address"):
        api.notification_send(channel="webhook", recipient="http://127.0.0.1:1/other-port", body="x")
    settings.DSTA_OUTBOUND_ALLOWLIST = ["127.0.0.0/8"]  # networks work too
    assert api.notification_send(channel="webhook", recipient="http://127.0.0.1:1/", body="y").status == "queued"


class _Redirector(BaseHTTPRequestHandler):
    target = ""

    def do_POST(self) -> None:  # noqa: N802
        self.send_response(302)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def test_redirects_are_not_followed_with_the_signature(server, settings):
    seen: list[str] = []

    class Inside(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.headers.get("X-DSTA-Signature", ""))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    inside = ThreadingHTTPServer(("127.0.0.1", 0), Inside)
    threading.Thread(target=inside.serve_forever, daemon=True).start()
    handler = type("Redirector", (_Redirector,), {"target": f"http://127.0.0.1:{inside.server_address[1]}/admin"})
    outside = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=outside.serve_forever, daemon=True).start()
    try:
        settings.DSTA_OUTBOUND_ALLOWLIST = [f"127.0.0.1:{outside.server_address[1]}"]  # only the first hop
        receipt = api.notification_send(
            channel="webhook", recipient=f"http://127.0.0.1:{outside.server_address[1]}/hook", body="x"
        )
        assert notifications.deliver(notification_id=receipt.notification_id) == "failed"
        assert seen == []
        assert Notification.objects.get(pk=receipt.notification_id).last_error == "webhook answered HTTP 302"
    finally:
        inside.shutdown()
        outside.shutdown()


def test_the_telegram_api_base_goes_through_the_same_guard(server, settings):
    settings.DSTA_TELEGRAM_API_URL = server.url  # an internal address, not on the allowlist
    api.secret_set(key=notifications.TELEGRAM_TOKEN_SECRET, value="123456:telegram-token-value")
    receipt = api.notification_send(channel="telegram", recipient="42", body="x")
    assert notifications.deliver(notification_id=receipt.notification_id) == "failed"
    assert server.requests == []  # the bot token never went to it
