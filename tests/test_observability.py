"""Observability, end to end: /metrics after real requests, JSON logs with request and user ids, a request's
trace continued by the worker that handles its event, heartbeats, breakers, outbox gauges."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connections, transaction
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from dsta.core.tests.factories import access_token_for, bearer, user_with_role
from dsta.domains import DOMAIN_BY_NAME, DOMAINS
from dsta.events.core import ConfigChanged
from dsta.kernel import handlers, telemetry
from dsta.kernel.events import EventEnvelope
from dsta.kernel.logging import configure_logging
from dsta.kernel.relay import Relay
from dsta.kernel.tests.probe import ProbePing

ALL_DATABASES = [domain.alias for domain in DOMAINS]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client, **headers: str) -> Samples:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def json_logs():
    """The root handler's output as parsed JSON lines (the production renderer), restored afterwards."""
    configure_logging(level="INFO", json=True)
    buffer = io.StringIO()
    logging.getLogger().handlers[0].setStream(buffer)  # type: ignore[attr-defined]

    def lines() -> list[dict]:
        return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]

    yield lines
    configure_logging(level=settings.LOG_LEVEL, json=settings.LOG_JSON)


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    telemetry.configure_tracing(exporter="none", span_processor=SimpleSpanProcessor(exporter))
    yield exporter
    telemetry.configure_tracing(exporter="none")


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_http_requests_are_counted_by_url_pattern_method_and_status(client):
    token = access_token_for(user_with_role("viewer"))
    before = scrape(client)
    assert client.get("/healthz").status_code == 200
    for order_id in (999991, 999992):  # two raw paths, one URL pattern
        assert client.get(f"/api/v1/orders/{order_id}", **bearer(token)).status_code == 404
    assert client.get("/api/v1/orders/1").status_code == 401
    assert client.get("/no/such/page").status_code == 404
    after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    orders_route = "api/v1/orders/<int:order_id>"
    assert moved("dsta_http_requests_total", route="healthz", method="GET", status="200") == 1
    assert moved("dsta_http_requests_total", route=orders_route, method="GET", status="404") == 2
    assert moved("dsta_http_requests_total", route=orders_route, method="GET", status="401") == 1
    assert moved("dsta_http_requests_total", route="<unmatched>", method="GET", status="404") == 1
    assert moved("dsta_http_request_duration_seconds_count", route=orders_route, method="GET") == 3
    assert moved("dsta_http_request_duration_seconds_bucket", route=orders_route, method="GET", le="+Inf") == 3
    assert not any("999991" in str(key) for key in after)  # raw paths never become labels
    # Facade calls are timed too (the validation of the access token goes through core's facade).
    assert any(name == "dsta_facade_call_seconds_count" for name, _ in after)


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_metrics_are_refused_to_other_addresses_unless_the_token_is_given(client, settings):
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    settings.DSTA_METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200
    settings.DSTA_METRICS_ALLOWED_IPS = "10.1.0.0/16"
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert client.post("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 405


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_request_id_is_taken_from_the_caller_or_made_and_returned(client):
    given = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123.def")
    assert given["X-Request-ID"] == "abc-123.def"
    made = client.get("/healthz")
    made_ids = {made["X-Request-ID"], client.get("/healthz")["X-Request-ID"]}
    assert len(made_ids) == 2 and all(re.fullmatch(r"[0-9a-f]{32}", made_id) for made_id in made_ids)
    hostile = client.get("/healthz", HTTP_X_REQUEST_ID='x"\n{"injected": 1}')
    assert re.fullmatch(r"[0-9a-f]{32}", hostile["X-Request-ID"])


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_json_log_lines_of_a_request_carry_its_request_id_and_user_id(client, json_logs):
    user = user_with_role("viewer")
    response = client.get("/api/v1/orders/999993", **bearer(access_token_for(user)), HTTP_X_REQUEST_ID="req-logs-1")
    assert response.status_code == 404
    access = [line for line in json_logs() if line["event"] == "http_request"]
    assert len(access) == 1
    assert access[0]["request_id"] == "req-logs-1" and access[0]["user_id"] == user.pk
    assert access[0]["route"] == "api/v1/orders/<int:order_id>" and access[0]["status"] == 404
    assert access[0]["level"] == "info" and "timestamp" in access[0]
    # The context is the request's only: a later anonymous request carries neither id.
    client.get("/healthz")
    last = json_logs()[-1]
    assert last["event"] == "http_request" and last["request_id"] != "req-logs-1" and last.get("user_id") is None


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_a_request_that_publishes_an_event_continues_its_trace_and_log_ids_in_the_worker(client, spans, json_logs):
    """Request -> facade -> outbox -> relay -> worker handler: one trace, and the worker's log lines carry the
    request's id and user id (the envelope goes through JSON as through the broker)."""
    handled: list[EventEnvelope] = []

    @handlers.event_handler(consumer="observability.test_probe", events=[ConfigChanged], using="default")
    def probe(envelope: EventEnvelope) -> None:
        handled.append(envelope)
        telemetry.structlog.get_logger("probe").info("probe_handled")

    try:
        admin = user_with_role("admin")
        response = client.put(
            "/api/v1/config/obs.trace",
            {"value": 7},
            content_type="application/json",
            HTTP_X_REQUEST_ID="req-trace-1",
            **bearer(access_token_for(admin)),
        )
        assert response.status_code == 200, response.content
        messages: list[dict] = []
        Relay(domains=[DOMAIN_BY_NAME["core"]], sender=messages.extend).drain()
        handlers.deliver([EventEnvelope.from_message(m) for m in json.loads(json.dumps(messages))])
    finally:
        handlers._subscriptions.pop("observability.test_probe", None)

    assert [envelope.name for envelope in handled] == ["core.config_changed"]
    assert handled[0].context["request_id"] == "req-trace-1" and handled[0].context["user_id"] == admin.pk
    assert "_context" not in handled[0].payload  # the carrier never leaks into the event's payload
    finished = {span.name: span for span in spans.get_finished_spans()}
    request_span = finished["PUT api/v1/config/<str:key>"]
    publish_span = finished["outbox.publish"]
    worker_span = finished["handle core.config_changed"]
    trace_id = request_span.context.trace_id
    assert publish_span.context.trace_id == trace_id and worker_span.context.trace_id == trace_id
    assert worker_span.parent.span_id == publish_span.context.span_id
    assert request_span.attributes["http.response.status_code"] == 200
    assert request_span.attributes["enduser.id"] == str(admin.pk)
    facade_spans = [span for span in finished.values() if span.name.startswith("core.")]
    assert facade_spans and all(span.context.trace_id == trace_id for span in facade_spans)
    worker_lines = [line for line in json_logs() if line["event"] == "probe_handled"]
    assert len(worker_lines) == 1
    assert worker_lines[0]["request_id"] == "req-trace-1" and worker_lines[0]["user_id"] == admin.pk
    assert worker_lines[0]["trace_id"] == format(trace_id, "032x")
    assert worker_lines[0]["event_id"] == handled[0].event_id


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_orders_created_and_filled_are_counted(client):
    from dsta.exchange import api as exchange_api
    from dsta.exchange.contracts import OrderBook, PriceLevel

    exchange_api.paper_reset(slippage_bps=Decimal(0), slippage_jitter_bps=Decimal(0))
    exchange_api.paper_deposit(asset="USDT", amount=Decimal("100000"))
    now = telemetry_now()
    level = PriceLevel
    exchange_api.paper_book_feed(
        book=OrderBook(
            "paper", "BTC/USDT", now, (level(Decimal(99), Decimal(10)),), (level(Decimal(100), Decimal(10)),)
        )
    )
    from dsta.trading.models import MarkPrice

    MarkPrice.objects.using("trading").create(exchange="paper", symbol="BTC/USDT", price=Decimal(100), as_of=now)
    token = access_token_for(user_with_role("trader"))
    before = scrape(client)
    order = {"exchange": "paper", "symbol": "BTC/USDT", "side": "buy", "quantity": "0.5"}
    filled = client.post(
        "/api/v1/orders", {**order, "order_type": "market"}, content_type="application/json", **bearer(token)
    )
    resting = client.post(
        "/api/v1/orders",
        {**order, "order_type": "limit", "price": "98"},
        content_type="application/json",
        **bearer(token),
    )
    refused = client.post(
        "/api/v1/orders",
        {**order, "order_type": "limit", "price": "50"},
        content_type="application/json",
        **bearer(token),
    )
    assert filled.json()["status"] == "filled" and resting.json()["status"] == "submitted", resting.content
    assert refused.json()["status"] == "rejected"  # outside the price band
    after = scrape(client)

    def moved(name: str) -> float:
        return value(after, name, exchange="paper") - value(before, name, exchange="paper")

    assert moved("dsta_orders_created_total") == 3
    assert moved("dsta_orders_filled_total") == 1
    assert moved("dsta_orders_rejected_total") == 1
    submit = ("dsta_facade_call_seconds_count", (("facade", "exchange.order_submit"),))
    assert after.get(submit, 0) - before.get(submit, 0) == 2


def telemetry_now():
    from dsta.kernel.clock import utc_now

    return utc_now()


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_outbox_lag_and_dead_letters_are_read_at_scrape_time(client):
    with transaction.atomic(using="data"):
        from dsta.kernel.outbox import publish

        publish(ProbePing(aggregate="lag", seq=1, sent_at="now"), using="data")
        publish(ProbePing(aggregate="lag", seq=2, sent_at="now"), using="data")
    with connections["data"].cursor() as cursor:
        cursor.execute("UPDATE outbox SET occurred_at = now() - interval '90 seconds' WHERE payload->>'seq' = '1'")
    samples = scrape(client)
    assert 89 < value(samples, "dsta_outbox_lag_seconds", schema="data") < 200
    assert value(samples, "dsta_outbox_lag_seconds", schema="trading") == 0
    assert value(samples, "dsta_outbox_dead_letters", schema="data") == 0
    with connections["data"].cursor() as cursor:
        cursor.execute("UPDATE outbox SET dead_lettered_at = now() WHERE payload->>'seq' = '1'")
    samples = scrape(client)
    assert value(samples, "dsta_outbox_dead_letters", schema="data") == 1
    assert value(samples, "dsta_outbox_lag_seconds", schema="data") < 60  # the dead one is no longer pending
    Relay(domains=[DOMAIN_BY_NAME["data"]], sender=lambda messages: None).drain()
    assert value(scrape(client), "dsta_outbox_lag_seconds", schema="data") == 0


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_relay_heartbeat_shows_a_running_relay_and_goes_stale_when_it_stops(client, redis_client, settings):
    redis_client.delete("dsta:heartbeat:relay")
    assert value(scrape(client), "dsta_relay_last_cycle_timestamp_seconds") == 0
    stop = threading.Event()
    relay = Relay(sender=lambda messages: None)
    thread = threading.Thread(target=relay.run_forever, args=(stop,), kwargs={"poll_seconds": 0.1}, daemon=True)
    started = time.time()
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while value(scrape(client), "dsta_relays_alive") != 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        samples = scrape(client)
        assert value(samples, "dsta_relays_alive") == 1
        assert started - 1 <= value(samples, "dsta_relay_last_cycle_timestamp_seconds") <= time.time()
    finally:
        stop.set()
        thread.join(timeout=10)
    assert value(scrape(client), "dsta_relays_alive") == 0  # a clean stop takes the relay off the list


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_breaker_state_per_venue_is_exported(client, settings, redis_client, monkeypatch):
    from dsta.core import api as core_api
    from dsta.exchange import api as exchange_api
    from dsta.exchange.contracts import ExchangeUnavailable
    from dsta.exchange.tests.fake_venues import Binance, FakeVenueServer

    server = FakeVenueServer(Binance()).start()
    try:
        monkeypatch.setenv("DSTA_EXCHANGE_BINANCE_URL", server.url)
        settings.DSTA_EXCHANGE_RETRY = {"attempts": 1, "base_delay": 0.01, "max_delay": 0.05}
        settings.DSTA_EXCHANGE_BREAKER = {"failure_threshold": 2, "cooldown": 60}
        core_api.secret_set(key="exchange/binance/api_key", value="k")
        core_api.secret_set(key="exchange/binance/secret", value="s")
        for key in redis_client.scan_iter("dsta:exchange:*"):
            redis_client.delete(key)
        exchange_api.clients_reset()
        closed = scrape(client)
        assert value(closed, "dsta_exchange_breaker_state", venue="binance", state="closed") == 1
        assert value(closed, "dsta_exchange_breaker_state", venue="binance", state="open") == 0
        exchange_api.markets_list(venue="binance")
        server.faults.add("GET /api/v3/ticker/24hr", "500", "500")
        for _ in range(2):
            with pytest.raises(ExchangeUnavailable):
                exchange_api.ticker_get(venue="binance", symbol="BTC/USDT")
        opened = scrape(client)
        assert value(opened, "dsta_exchange_breaker_state", venue="binance", state="open") == 1
        assert value(opened, "dsta_exchange_breaker_state", venue="binance", state="closed") == 0
        assert value(opened, "dsta_exchange_breaker_state", venue="gateio", state="closed") == 1
        assert value(opened, "dsta_exchange_consecutive_failures", venue="binance") == 2
    finally:
        exchange_api.clients_reset()
        server.stop()
        for key in redis_client.scan_iter("dsta:exchange:*"):
            redis_client.delete(key)
