"""Issue 18.3: `manage.py check --deploy` of a production start (DSTA_DEBUG=0, real keys) reports nothing, so a
view the OpenAPI schema cannot describe, or a weakened security setting, fails CI. The one silenced check
(models.W035, the domains' shared `outbox`/`inbox` table names) is verified by kernel.E001 instead."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from django.apps import apps
from django.db import models
from django.test.utils import isolate_apps

from dsta.kernel.checks import shared_table_clashes

ROOT = Path(__file__).resolve().parents[2]


def production_environment(tmp_path: Path, **variables: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("DSTA_", "DJANGO_"))}
    env.update(
        DSTA_DEBUG="0",
        DSTA_STATE_DIR=str(tmp_path / "state"),
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DSTA_JWT_SIGNING_KEY=secrets.token_urlsafe(48),
        DSTA_FERNET_KEYS=Fernet.generate_key().decode(),
        DSTA_LOG_LEVEL="WARNING",
        **variables,
    )
    return env


def manage(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "manage.py", *arguments]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False)


def test_check_deploy_of_a_production_start_reports_no_issue(tmp_path):
    checked = manage(production_environment(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "System check identified no issues (2 silenced)." in checked.stdout, checked.stdout + checked.stderr
    assert "Warning" not in checked.stderr, checked.stderr  # nor does the schema generator warn on the side


def test_check_deploy_names_a_weakened_setting(tmp_path):
    # The same check, with what an operator may turn off for a plain-http deployment: it says so, and fails.
    weakened = production_environment(tmp_path, DSTA_SSL_REDIRECT="0", DSTA_HSTS_PRELOAD="0")
    checked = manage(weakened, "check", "--deploy", "--fail-level", "WARNING")
    assert checked.returncode != 0
    assert "security.W008" in checked.stderr and "security.W021" in checked.stderr, checked.stderr


def test_the_shared_outbox_and_inbox_tables_are_verified_apart():
    assert shared_table_clashes(apps.get_models()) == []  # one of each per domain, each in its own schema
    outbox = apps.get_model("core", "OutboxEvent")
    with isolate_apps("dsta.core"):

        class StrayOutbox(models.Model):  # noqa: DJ008  # a second `outbox` in core's own schema
            class Meta:
                app_label = "core"
                db_table = "outbox"

        clashes = shared_table_clashes([outbox, StrayOutbox, apps.get_model("data", "OutboxEvent")])
    assert [clash.id for clash in clashes] == ["kernel.E001"]
    assert "core.OutboxEvent, core.StrayOutbox" in clashes[0].msg and "data." not in clashes[0].msg
