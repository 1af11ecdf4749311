"""An actor for the broker reconnect tests: it writes each token it runs to a file, one line per run, so a
lost message is a missing line and a message run twice is a repeated one. No database: only the broker is on
trial."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dramatiq

QUEUE = "broker_probe"
ACTOR = "record_token"


@dramatiq.actor(actor_name=ACTOR, queue_name=QUEUE, max_retries=0)
def record_token(token: str, hold_seconds: float = 0.0) -> None:
    time.sleep(hold_seconds)
    with open(os.environ["DSTA_PROBE_RECORD"], "a") as record:
        record.write(token + "\n")


FAIL_FIRST_ACTOR = "fail_first_run"


@dramatiq.actor(actor_name=FAIL_FIRST_ACTOR, queue_name=QUEUE, max_retries=3, min_backoff=100, max_backoff=500)
def fail_first_run(token: str, hold_seconds: float = 0.0) -> None:
    """Fails the first run of each token (after holding it), so only its retry can record it: a retry that
    cannot be enqueued is a lost message."""
    time.sleep(hold_seconds)
    attempts = Path(os.environ["DSTA_PROBE_RECORD"] + ".attempts")
    seen = attempts.read_text().split() if attempts.exists() else []
    with attempts.open("a") as record:
        record.write(token + "\n")
    if token not in seen:
        raise RuntimeError(f"first run of {token} fails on purpose")
    with open(os.environ["DSTA_PROBE_RECORD"], "a") as record:
        record.write(token + "\n")
