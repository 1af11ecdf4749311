"""A small periodic scheduler: every job is due once per tick of its interval (aligned to the epoch), and
the scheduler that wins a Redis `SET NX` on the (job, tick) key sends it. Run it anywhere, any number of
times (`manage.py run_scheduler`): each job still goes out once per tick."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import dramatiq
import redis
import structlog
from django.conf import settings

log = structlog.get_logger(__name__)
KEY_PREFIX = "dsta:scheduler"


@dataclass(frozen=True)
class PeriodicJob:
    actor_name: str  # a dramatiq actor taking no arguments
    every_seconds: float  # fractions allowed (the live feed against a fast-clock venue ticks every 0.05 s)


def jobs_from_settings() -> list[PeriodicJob]:
    return [PeriodicJob(name, float(every)) for name, every in settings.DSTA_SCHEDULE if float(every) > 0]


def poll_seconds_for(jobs: Sequence[PeriodicJob]) -> float:
    """Poll twice per shortest interval (at most once a second), so no tick starts late by a whole poll."""
    return min([1.0, *(job.every_seconds / 2 for job in jobs)])


class Scheduler:
    def __init__(
        self, jobs: Sequence[PeriodicJob], *, client: redis.Redis | None = None, owner: str | None = None
    ) -> None:
        broker = dramatiq.get_broker()
        unknown = [job.actor_name for job in jobs if job.actor_name not in broker.get_declared_actors()]
        if unknown:
            raise ValueError(f"no dramatiq actor named {', '.join(unknown)}")
        self.jobs = tuple(jobs)
        self.client = client or redis.Redis.from_url(settings.REDIS_URL)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"

    def tick(self, *, now: float | None = None) -> list[str]:
        """Send every job whose current tick no scheduler has claimed yet; returns the names sent."""
        moment = time.time() if now is None else now
        sent = []
        broker = dramatiq.get_broker()
        for job in self.jobs:
            slot = int(moment // job.every_seconds)
            key = f"{KEY_PREFIX}:{job.actor_name}:{slot}"
            if self.client.set(key, self.owner, nx=True, px=int(max(2 * job.every_seconds, 10) * 1000)):
                broker.get_actor(job.actor_name).send()
                sent.append(job.actor_name)
        if sent:
            log.info("scheduler_sent", jobs=sent, owner=self.owner)
        return sent

    def run_forever(self, stop: threading.Event, *, poll_seconds: float = 1.0) -> None:
        log.info("scheduler_started", jobs=[(job.actor_name, job.every_seconds) for job in self.jobs])
        while not stop.is_set():
            try:
                self.tick()
            except redis.RedisError as exc:  # Redis away for a moment: try again next poll
                log.warning("scheduler_tick_failed", error=str(exc)[:200])
            stop.wait(poll_seconds)
