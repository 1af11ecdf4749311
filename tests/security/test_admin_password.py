"""Issue 20.13 (start-up log): `./dev up` shows a generated admin password once, on the terminal, when it creates
it; its output (often a log file) never carries it."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from dsta.domains import DOMAINS

ROOT = Path(__file__).resolve().parents[2]
ADMIN_STEP = (
    "import importlib.util, sys; "
    "spec = importlib.util.spec_from_file_location('dev', 'scripts/dev.py'); "
    "dev = importlib.util.module_from_spec(spec); "
    "spec.loader.exec_module(dev); dev.ensure_admin(dev.embedded_environment(redis_db=0))"
)
pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)


def start_admin_step(state_dir: Path, *, terminal: bool, **variables: str) -> tuple[str, str]:
    """The admin step of `./dev up` against the test database: (what went to its output, what reached a terminal)."""
    env = {name: value for name, value in os.environ.items() if name != "DSTA_ADMIN_PASSWORD"}
    env.update(DSTA_STATE_DIR=str(state_dir), DSTA_LOG_LEVEL="WARNING", **variables)
    master, replica = pty.openpty()
    try:
        run = subprocess.run(
            [sys.executable, "-c", ADMIN_STEP],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=replica if terminal else subprocess.STDOUT,
            timeout=120,
            check=False,
        )
        shown = b""
        while select.select([master], [], [], 0.2)[0]:
            shown += os.read(master, 65536)
    finally:
        os.close(master)
        os.close(replica)
    assert run.returncode == 0, run.stdout.decode(errors="replace")
    return run.stdout.decode(errors="replace"), shown.decode(errors="replace")


@pytest.fixture(autouse=True)
def _hashers_of_the_started_process(settings):  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]  # it stored a PBKDF2 hash


def admin_password_is(password: str) -> bool:
    return get_user_model().objects.get(username="admin").check_password(password)


def test_a_generated_password_reaches_the_terminal_once_and_never_the_output(tmp_path):
    output, shown = start_admin_step(tmp_path, terminal=True)
    password_file = tmp_path / "admin-password"
    password = password_file.read_text().strip()
    assert len(password) >= 16 and (password_file.stat().st_mode & 0o777) == 0o600
    assert password in shown and shown.count(password) == 1
    assert password not in output
    assert admin_password_is(password)
    # The next start finds it: it is not shown again, anywhere.
    output, shown = start_admin_step(tmp_path, terminal=True)
    assert password not in output + shown and password_file.read_text().strip() == password
    assert admin_password_is(password)


def test_without_a_terminal_the_password_is_only_in_its_file(tmp_path):
    output, _ = start_admin_step(tmp_path, terminal=False)
    password = (tmp_path / "admin-password").read_text().strip()
    assert password not in output and "admin-password" in output
    assert admin_password_is(password)


def test_a_given_password_is_never_printed(tmp_path):
    output, shown = start_admin_step(tmp_path, terminal=True, DSTA_ADMIN_PASSWORD="given-admin-password-123")
    assert "given-admin-password-123" not in output + shown
    assert admin_password_is("given-admin-password-123")
