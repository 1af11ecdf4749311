"""An actor for the broker reconnect tests: it writes each token it runs to a file, one line per run, so a
lost message is a missing line and a message run twice is a repeated one. No database: only the broker is on
trial."""

from __future__ import annotations

import os
import time

import dramatiq

QUEUE = "broker_probe"
ACTOR = "record_token"


@dramatiq.actor(actor_name=ACTOR, queue_name=QUEUE, max_retries=0)
def record_token(token: str, hold_seconds: float = 0.0) -> None:
    time.sleep(hold_seconds)
    with open(os.environ["DSTA_PROBE_RECORD"], "a") as record:
        record.write(token + "\n")
