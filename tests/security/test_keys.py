"""Issue 20.1: tokens and secrets must not be forgeable or readable with a key published in the source."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.fernet import Fernet, InvalidToken
from rest_framework.test import APIClient

from dsta.core.models import Secret
from dsta.core.tests.factories import user_with_role

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED_SECRET_KEY = "dsta-dev-only-insecure-key-change-me"  # what the source used to fall back to
KEY_VARIABLES = ("DJANGO_SECRET_KEY", "DSTA_JWT_SIGNING_KEY", "DSTA_FERNET_KEYS", "DSTA_STATE_DIR", "DSTA_DEBUG")


def derived(purpose: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(f"{purpose}:{PUBLISHED_SECRET_KEY}".encode()).digest())


def start_settings(state_dir: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """Load the project's settings in a fresh interpreter, as every process does when it starts."""
    env = {name: value for name, value in os.environ.items() if name not in KEY_VARIABLES}
    env.update({"DSTA_STATE_DIR": str(state_dir), **variables})
    code = (
        "from dsta import settings; "  # the settings module alone: what every process loads first
        "print(settings.SECRET_KEY + ' ' + settings.DSTA_JWT_SIGNING_KEY + ' ' + ','.join(settings.DSTA_FERNET_KEYS))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.django_db
def test_a_token_signed_with_the_published_key_is_not_an_admin():
    admin = user_with_role("admin")
    now = int(time.time())
    claims = {"iss": "dsta", "sub": str(admin.pk), "typ": "access", "jti": uuid.uuid4().hex}
    claims.update(iat=now, exp=now + 60)
    forged = jwt.encode(claims, derived("dsta-jwt").decode(), algorithm="HS256")
    response = APIClient().get("/api/v1/auth/validate", HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert response.status_code == 401


@pytest.mark.django_db
def test_stored_secrets_cannot_be_decrypted_with_a_key_derived_from_the_source():
    from dsta.core import api

    api.secret_set(key="exchange/binance/api_key", value="very-secret-value")
    ciphertext = Secret.objects.get(key="exchange/binance/api_key").ciphertext
    with pytest.raises(InvalidToken):
        Fernet(derived("dsta-fernet")).decrypt(ciphertext.encode())
    assert api.secret_get(key="exchange/binance/api_key") == "very-secret-value"


def test_the_published_secret_key_is_refused_outright(tmp_path):
    for debug in ("1", "0"):
        started = start_settings(tmp_path, DSTA_DEBUG=debug, DJANGO_SECRET_KEY=PUBLISHED_SECRET_KEY)
        assert started.returncode != 0
        assert "DJANGO_SECRET_KEY is a value published in the source" in started.stderr


def test_production_mode_refuses_to_start_without_real_keys(tmp_path):
    # A secret key alone used to be enough: the JWT key was then derived from it.
    started = start_settings(tmp_path, DSTA_DEBUG="0", DJANGO_SECRET_KEY="x" * 10 + uuid.uuid4().hex * 2)
    assert started.returncode != 0
    assert "DSTA_JWT_SIGNING_KEY, DSTA_FERNET_KEYS must be set when DSTA_DEBUG=0" in started.stderr
    assert not (tmp_path / "keys.json").exists()  # production never invents keys


def test_every_entry_point_refuses_missing_keys_with_a_message_not_a_traceback(tmp_path):
    env = {name: value for name, value in os.environ.items() if name not in KEY_VARIABLES}
    env.update(DSTA_STATE_DIR=str(tmp_path), DSTA_DEBUG="0")
    entry_points = {
        "manage.py": [sys.executable, "manage.py", "check"],
        "asgi": [sys.executable, "-c", "import dsta.asgi"],  # what uvicorn loads
        "worker": [sys.executable, "-c", "import dsta.worker"],  # what dramatiq loads
    }
    for name, argv in entry_points.items():
        run = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert run.returncode == 1, (name, run.stderr[-2000:])
        assert run.stderr == (
            "dsta: DJANGO_SECRET_KEY, DSTA_JWT_SIGNING_KEY, DSTA_FERNET_KEYS must be set when DSTA_DEBUG=0"
            " (or run `./dev up` once to create keys.json)\n"
        ), (name, run.stderr[-2000:])
    assert not (tmp_path / "keys.json").exists()


def test_a_development_install_gets_its_own_random_private_keys(tmp_path):
    first, other = tmp_path / "one", tmp_path / "two"
    runs = [start_settings(first, DSTA_DEBUG="1"), start_settings(first, DSTA_DEBUG="1"), start_settings(other)]
    assert all(run.returncode == 0 for run in runs), [run.stderr[-2000:] for run in runs]
    assert runs[0].stdout == runs[1].stdout  # stable: tokens and secrets survive a restart
    assert runs[0].stdout != runs[2].stdout  # and nothing is shared between installations
    keys_file = first / "keys.json"
    assert keys_file.stat().st_mode & 0o777 == 0o600
    stored = json.loads(keys_file.read_text())
    assert len(stored["secret_key"]) >= 50 and len(stored["jwt_signing_key"]) >= 48
    assert PUBLISHED_SECRET_KEY not in runs[0].stdout
    # DSTA_DEBUG=0 runs with keys a development start created (./dev up), without creating new ones.
    production = start_settings(first, DSTA_DEBUG="0")
    assert production.returncode == 0, production.stderr[-2000:]
    assert production.stdout == runs[0].stdout
