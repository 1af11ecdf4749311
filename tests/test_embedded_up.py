"""The README's first command: `./dev up` from nothing (fresh state dir, no DATABASE_URL / REDIS_URL)
starts embedded Postgres (as an unprivileged user when run as root) and Redis, migrates, loads the bundled
candles and serves web + worker + relay, in under two minutes; Ctrl-C stops all of it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
import redis

ROOT = Path(__file__).resolve().parent.parent
WEB_PORT, PG_PORT, REDIS_PORT = 18765, 55499, 56499
STARTUP_BUDGET_SECONDS = 120


def get(path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{WEB_PORT}{path}", timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_dev_up_starts_the_whole_app_on_embedded_services(tmp_path):
    state_dir = tmp_path / "state"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL"} and not key.startswith("DSTA_DB_PASSWORD_")
    }
    env.update(
        DSTA_STATE_DIR=str(state_dir),
        DSTA_WEB_PORT=str(WEB_PORT),
        DSTA_EMBEDDED_PG_PORT=str(PG_PORT),
        DSTA_EMBEDDED_REDIS_PORT=str(REDIS_PORT),
        DSTA_ADMIN_PASSWORD="embedded-admin-pw",
    )
    log_path = tmp_path / "up.log"
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "scripts/dev.py", "up"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        while b"DSTA is up" not in log_path.read_bytes():
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() - started < STARTUP_BUDGET_SECONDS, log_path.read_text()
            time.sleep(0.5)
        print(f"embedded start from nothing: {time.monotonic() - started:.1f}s")
        assert b"embedded-admin-pw" not in log_path.read_bytes()  # the start-up output never shows the password

        status, body = get("/readyz")
        assert status == 200, body
        assert json.loads(body)["status"] == "ready"
        assert get("/admin/login/")[0] == 200
        assert get("/api/schema/swagger-ui/")[0] == 200
        assert get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css")[0] == 200
        if os.geteuid() == 0:
            owner = (state_dir / "pg" / "data").stat().st_uid
            assert owner != 0, "Postgres data must belong to an unprivileged user"
        psql = [
            sys.executable,
            "manage.py",
            "shell",
            "--no-imports",
            "-c",
            "from dsta.data import api; print(sum(s.candles for s in api.series_list()))",
        ]
        # Both services want the generated passwords (.dsta/service-passwords.json, 0600): no local user gets in
        # without them.
        passwords_file = state_dir / "service-passwords.json"
        assert passwords_file.stat().st_mode & 0o777 == 0o600
        passwords = json.loads(passwords_file.read_text())
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(f"postgres://postgres@127.0.0.1:{PG_PORT}/dsta", connect_timeout=10).close()
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(f"postgres://postgres:wrong@127.0.0.1:{PG_PORT}/dsta", connect_timeout=10).close()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=REDIS_PORT, socket_timeout=10).set("dsta:probe", "1")
        count_env = {
            **env,
            "DATABASE_URL": f"postgres://postgres:{passwords['postgres']}@127.0.0.1:{PG_PORT}/dsta",
            "REDIS_URL": f"redis://:{passwords['redis']}@127.0.0.1:{REDIS_PORT}/0",
            **{
                f"DSTA_DB_PASSWORD_{name[5:].upper()}": value
                for name, value in passwords.items()
                if name.startswith("role_")
            },
        }
        counted = subprocess.run(psql, cwd=ROOT, env=count_env, capture_output=True, text=True, check=True)
        assert int(counted.stdout.strip()) == 12556 + 12555 + 3 * 12554  # BTC, SOL, and BNB, ETH, XRP (1h)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    assert process.returncode == 0, log_path.read_text()[-3000:]

    def leftovers() -> str:
        return subprocess.run(["pgrep", "-f", str(state_dir)], capture_output=True, text=True).stdout.strip()

    deadline = time.monotonic() + 20  # a busy machine takes a moment to reap the last process
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert leftovers() == "", "embedded services must stop with the app"
