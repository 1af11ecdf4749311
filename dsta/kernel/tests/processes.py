"""Start the real relay and worker as child processes against the test database, and kill them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from dsta.kernel.management.commands.run_worker import WORKER_IDLE_POLL_MS

ROOT = Path(__file__).resolve().parents[3]


class Child:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Child:
        log = self.log_path.open("ab")
        # A session of its own, so a kill reaches the forked worker processes too.
        self.process = subprocess.Popen(
            self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    def kill(self) -> None:
        """SIGKILL to the whole process group: no shutdown hook runs, as on a crashed machine."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def child_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DSTA_LOG_LEVEL", "WARNING")
    env.update(overrides)
    return env


# The relay routes each event to the queues of the domains whose handlers subscribe to it, so it must know the
# test probe's handler as well as every domain's (which every process loads at start).
_RELAY_WITH_PROBE = (
    "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'dsta.settings'); "
    "import django; django.setup(); import dsta.kernel.tests.probe; "
    "from django.core.management import execute_from_command_line; "
    "execute_from_command_line(['manage.py', 'run_relay', '--poll-seconds', '0.2'])"
)


def relay(log_dir: Path, *, name: str = "relay", **env: str) -> Child:
    return Child(name, [sys.executable, "-c", _RELAY_WITH_PROBE], child_env(**env), log_dir)


def worker(
    log_dir: Path, *, modules: tuple[str, ...] = (), threads: int = 4, name: str = "worker", **env: str
) -> Child:
    # dramatiq directly, as `manage.py run_worker` ends up doing: skipping a Django start halves the boot time.
    argv = [sys.executable, "-m", "dramatiq", "dsta.worker", *modules, "--processes", "1", "--threads", str(threads)]
    return Child(name, argv, child_env(dramatiq_worker_timeout=str(WORKER_IDLE_POLL_MS), **env), log_dir)


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
