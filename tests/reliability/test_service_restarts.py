"""Postgres and Redis restart while clients stream orders: the web server, the worker and the relay are
left running and recover by themselves, and nothing is lost or duplicated."""

from __future__ import annotations

import time

import httpx
from django.db import connections

from dsta.kernel.tests import processes
from tests.reliability import harness

ORDERS = 40
SYMBOL = "ETH/USDT"
FAST_REQUEUE = {
    "DSTA_BROKER_HEARTBEAT_MS": "1500",
    "DSTA_BROKER_MAINTENANCE_CHANCE": "1000000",
    "DSTA_OUTBOX_LEASE_SECONDS": "2",  # a killed relay's claimed batch is taken over within seconds
}


def test_postgres_and_redis_restarts_mid_stream_recover_without_a_process_restart(private_db, children, tmp_path):
    services = private_db
    harness.ensure_admin()
    harness.paper_venue_for_buys(SYMBOL)
    port = harness.free_port()
    base = f"http://127.0.0.1:{port}"
    web = children(harness.web(tmp_path, port=port))
    worker = children(processes.worker(tmp_path, **FAST_REQUEUE))
    relay = children(processes.relay(tmp_path, **FAST_REQUEUE))
    assert harness.wait_http(f"{base}/healthz", timeout=180), web.log_tail()
    token = harness.login(base, "reliability", harness.ADMIN_PASSWORD)
    stream = harness.OrderStream(base_url=base, token=token, count=ORDERS, prefix="restart", symbol=SYMBOL, clients=2)
    stream.start()

    def after(acknowledged: int) -> None:
        assert processes.wait_until(lambda: stream.acknowledged_count() >= acknowledged, timeout=180), (
            stream.acknowledged_count(),
            web.log_tail(),
        )

    after(10)
    connections.close_all()
    services.stop_postgres()
    time.sleep(2)  # requests fail meanwhile; clients retry with the same client order id
    services.start_postgres()
    after(22)
    services.stop_redis()
    time.sleep(2)
    services.start_redis()

    stream.join(timeout=240)
    assert stream.done and stream.acknowledged_count() == ORDERS, (stream.acknowledged_count(), stream.rejections)
    assert stream.retries > 0, "the Postgres restart failed no request: the test proved nothing"
    crashed = [child.name for child in (web, worker, relay) if child.process and child.process.poll() is not None]
    assert not crashed, f"{crashed} exited instead of recovering"
    assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200  # every domain alias and Redis answer
    connections.close_all()
    drained = processes.wait_until(lambda: harness.outbox_backlog() == (0, 0), timeout=120)
    delivered = processes.wait_until(lambda: not harness.undelivered_to_consumers(), timeout=120)
    harness.record_tally("service-restarts", orders=stream.acknowledged_count(), **harness.delivery_tally())
    assert drained, harness.outbox_backlog()
    assert delivered, harness.undelivered_to_consumers()
    harness.assert_orders_fills_positions_exact(stream)
