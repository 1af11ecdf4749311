"""A drawdown breach reaches the operators: trading stores and publishes the violation, the relay carries it
to core's `core.notify_risk_violations` consumer, which queues a critical notification per configured route."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dsta.domains import DOMAIN_BY_ALIAS, DOMAINS
from dsta.kernel import handlers
from dsta.kernel.events import EventEnvelope
from dsta.kernel.relay import Relay

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
D = Decimal


def test_a_drawdown_breach_becomes_a_critical_notification(django_capture_on_commit_callbacks):
    from dsta.core import api as core_api
    from dsta.core import notifications
    from dsta.core.models import Notification
    from dsta.exchange import api as exchange_api
    from dsta.exchange.contracts import OrderBook, PriceLevel
    from dsta.trading import drawdown, orders, services
    from dsta.trading.models import MarkPrice

    core_api.config_set(
        key=notifications.ROUTES_CONFIG_KEY,
        value={"trading.risk_violation": [{"channel": "telegram", "recipient": "4242"}]},
    )
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    exchange_api.paper_reset(slippage_bps=D(0), slippage_jitter_bps=D(0))
    exchange_api.paper_deposit(asset="USDT", amount=D("1000"))
    exchange_api.paper_book_feed(
        book=OrderBook("paper", "BTC/USDT", t0, (PriceLevel(D(99), D(10)),), (PriceLevel(D(100), D(10)),))
    )
    MarkPrice.objects.using("trading").create(exchange="paper", symbol="BTC/USDT", price=D(100), as_of=t0)
    services.risk_limits_update(values={"max_drawdown_pct": D(2), "drawdown_capital": D(1000)}, actor_id=None)
    drawdown.drawdown_check()  # the peak: 1000
    order = orders.order_place(
        orders.NewOrder(exchange="paper", symbol="BTC/USDT", side="buy", order_type="market", quantity=D(5))
    )
    assert order.status == "filled"
    MarkPrice.objects.using("trading").update(price=D(95))  # 1000 - 0.5 fee - 25: 2.55% down
    assert drawdown.drawdown_check().tripped

    delivered: list[EventEnvelope] = []

    def to_core(messages: list[dict]) -> None:
        envelopes = [EventEnvelope.from_message(message) for message in messages]
        delivered.extend(envelopes)
        saved = dict(handlers._subscriptions)
        try:  # core's consumers only: this test is about the notification path
            handlers._subscriptions.clear()
            handlers._subscriptions.update({k: s for k, s in saved.items() if s.using == "default"})
            handlers.deliver(envelopes)
        finally:
            handlers._subscriptions.clear()
            handlers._subscriptions.update(saved)

    with django_capture_on_commit_callbacks():
        Relay(domains=[DOMAIN_BY_ALIAS["trading"]], sender=to_core).drain()
    assert "trading.risk_violation" in {envelope.name for envelope in delivered}
    sent = list(Notification.objects.filter(subject="trading.risk violation"))
    assert [(n.channel, n.recipient, n.priority) for n in sent] == [("telegram", "4242", "critical")]
    assert "rule=max_drawdown" in sent[0].body and "actual=2.55" in sent[0].body
