"""Fixtures shared by the trading tests."""

from __future__ import annotations

import dramatiq
import pytest


@pytest.fixture
def worker():
    """A dramatiq worker on the real broker running the trading queue, in this process (one thread)."""
    from dsta.trading import actors  # noqa: F401  (declares the actors on the broker)

    broker = dramatiq.get_broker()
    broker.flush("trading")
    running = dramatiq.Worker(broker, queues={"trading"}, worker_threads=1, worker_timeout=100)
    running.start()
    yield running
    running.stop()
    broker.flush("trading")
