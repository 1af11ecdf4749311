"""End to end through the real relay and dramatiq worker processes: a risk violation committed in trading's
outbox becomes a signed webhook call on a local HTTP server, once."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import transaction

from dsta.core import api, notifications
from dsta.core.models import Notification
from dsta.core.tests.servers import HttpRecorder
from dsta.domains import DOMAINS
from dsta.kernel.events import DomainEvent
from dsta.kernel.outbox import publish
from dsta.kernel.tests import processes

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)


@dataclass(frozen=True)
class RiskViolation(DomainEvent):
    """Stands in for trading's event (core cannot import trading): same name, as the relay carries it."""

    event_name = "trading.risk_violation"
    rule: str
    symbol: str

    def aggregate_key(self) -> str:
        return f"risk:{self.symbol}"


def test_a_risk_violation_reaches_a_webhook_through_relay_and_worker(clean_broker, children, tmp_path):
    server = HttpRecorder(statuses=[502]).start()  # the first try fails: the worker retries
    try:
        api.config_set(
            key=notifications.ROUTES_CONFIG_KEY,
            value={"trading.risk_violation": [{"channel": "webhook", "recipient": f"{server.url}/risk"}]},
        )
        with transaction.atomic(using="trading"):
            publish(RiskViolation(rule="max_drawdown", symbol="ETH/USDT"), using="trading")
        env = {"DSTA_NOTIFY_BACKOFF_SECONDS": "0.05", "DSTA_OUTBOUND_ALLOWLIST": "127.0.0.1"}
        children(processes.worker(tmp_path, **env))
        children(processes.relay(tmp_path, **env))
        assert processes.wait_until(lambda: len(server.requests) >= 2, timeout=90)  # slow boots on a busy machine
        assert processes.wait_until(
            lambda: Notification.objects.filter(status=Notification.Status.SENT).count() == 1, timeout=10
        )
    finally:
        server.stop()
    assert server.requests[-1].json()["body"] == "rule=max_drawdown, symbol=ETH/USDT"
    assert server.requests[-1].headers["x-dsta-signature"].startswith("sha256=")
    notification = Notification.objects.get()
    assert (notification.priority, notification.attempts) == ("critical", 2)
