"""kill -9 of the web server, the worker and the relay while clients stream orders over HTTP: after the
restarts every acknowledged order exists once with exactly its fills, the position is their sum, and every
outbox event reached each of its consumers exactly once."""

from __future__ import annotations

import time

from dsta.kernel.tests import processes
from tests.reliability import harness

# Short heartbeats so messages a killed worker held are requeued within seconds, as in the outbox kill tests.
FAST_REQUEUE = {
    "DSTA_BROKER_HEARTBEAT_MS": "1500",
    "DSTA_BROKER_MAINTENANCE_CHANCE": "1000000",
    "DSTA_OUTBOX_LEASE_SECONDS": "2",  # a killed relay's claimed batch is taken over within seconds
}
ORDERS = 60
SYMBOL = "BTC/USDT"


def test_kill_9_of_web_worker_and_relay_mid_stream_loses_and_duplicates_nothing(private_db, children, tmp_path):
    harness.ensure_admin()
    harness.paper_venue_for_buys(SYMBOL)
    port = harness.free_port()
    base = f"http://127.0.0.1:{port}"
    web = children(harness.web(tmp_path, port=port))
    worker = children(processes.worker(tmp_path, **FAST_REQUEUE))
    relay = children(processes.relay(tmp_path, **FAST_REQUEUE))
    assert harness.wait_http(f"{base}/healthz", timeout=180), web.log_tail()
    token = harness.login(base, "reliability", harness.ADMIN_PASSWORD)

    stream = harness.OrderStream(
        base_url=base, token=token, count=ORDERS, prefix="kill", symbol=SYMBOL, clients=3
    ).start()

    def after(acknowledged: int) -> None:
        assert processes.wait_until(lambda: stream.acknowledged_count() >= acknowledged, timeout=180), (
            stream.acknowledged_count(),
            web.log_tail(),
        )

    after(10)
    web.kill()  # requests in flight die with it; their clients retry with the same client order id
    web = children(harness.web(tmp_path, port=port, name="web-after-kill"))
    after(25)
    worker.kill()
    children(processes.worker(tmp_path, name="worker-after-kill", **FAST_REQUEUE))
    after(40)
    relay.kill()
    time.sleep(0.5)  # events committed meanwhile wait in the outbox
    children(processes.relay(tmp_path, name="relay-after-kill", **FAST_REQUEUE))

    stream.join(timeout=240)
    assert stream.done and stream.acknowledged_count() == ORDERS, (stream.acknowledged_count(), stream.rejections)
    assert stream.retries > 0, "the web kill interrupted no request: the test proved nothing about retries"
    assert processes.wait_until(lambda: harness.outbox_backlog() == (0, 0), timeout=180), harness.outbox_backlog()
    assert processes.wait_until(lambda: not harness.undelivered_to_consumers(), timeout=120), (
        harness.undelivered_to_consumers()
    )
    harness.assert_orders_fills_positions_exact(stream)
