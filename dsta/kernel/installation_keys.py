"""Per-installation keys: Django's SECRET_KEY, the JWT signing key and the Fernet keys for secrets at rest.

The environment wins (DJANGO_SECRET_KEY, DSTA_JWT_SIGNING_KEY, DSTA_FERNET_KEYS). Otherwise they come from
`<state dir>/keys.json` (mode 0600), which a development install (DSTA_DEBUG=1, `./dev up`, the tests) creates
with random values the first time; with DSTA_DEBUG=0 nothing is generated and missing keys stop the start-up.
Nothing is ever derived from a constant in the source: a key anyone can read forges tokens for everyone.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

KEYS_FILE = "keys.json"
MIN_SECRET_LENGTH = 32
# Keys that shipped in the source at some point (or are placeholders people copy): refused everywhere.
KNOWN_PUBLIC_KEYS = frozenset(
    {
        "dsta-dev-only-insecure-key-change-me",
        "change-me",
        "changeme",
        "secret",
        "django-insecure",
    }
)


class KeysRefused(RuntimeError):
    """The configured keys must not be used (missing under DSTA_DEBUG=0, public, or too short)."""


@dataclass(frozen=True)
class InstallationKeys:
    secret_key: str
    jwt_signing_key: str
    fernet_keys: tuple[str, ...]


def _generate() -> dict[str, object]:
    return {
        "secret_key": secrets.token_urlsafe(50),
        "jwt_signing_key": secrets.token_urlsafe(48),
        "fernet_keys": [base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()],
    }


def _write_once(path: Path, content: dict[str, object]) -> None:
    """Create `path` with mode 0600 unless another process won the race (then its keys are the keys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            json.dump(content, handle)
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)  # atomic, and never replaces keys that already exist
    finally:
        temporary.unlink(missing_ok=True)


def _stored(state_dir: Path, *, create: bool) -> dict[str, object]:
    path = state_dir / KEYS_FILE
    if not path.exists():
        if not create:
            return {}
        _write_once(path, _generate())
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    loaded: dict[str, object] = json.loads(path.read_text())
    return loaded


def refuse_weak(name: str, value: str) -> None:
    if value.strip().lower() in KNOWN_PUBLIC_KEYS or value.startswith("django-insecure"):
        raise KeysRefused(f"{name} is a value published in the source; set a random one (or unset it)")
    if len(value) < MIN_SECRET_LENGTH:
        raise KeysRefused(f"{name} is shorter than {MIN_SECRET_LENGTH} characters")


def load(*, state_dir: Path, environ: dict[str, str] | os._Environ[str], development: bool) -> InstallationKeys:
    """The keys to run with; raises KeysRefused when there are none (DSTA_DEBUG=0) or they are weak."""
    given = {
        "secret_key": environ.get("DJANGO_SECRET_KEY", ""),
        "jwt_signing_key": environ.get("DSTA_JWT_SIGNING_KEY", ""),
        "fernet_keys": [key.strip() for key in environ.get("DSTA_FERNET_KEYS", "").split(",") if key.strip()],
    }
    stored = _stored(state_dir, create=development) if not all(given.values()) else {}
    secret_key = str(given["secret_key"] or stored.get("secret_key") or "")
    jwt_key = str(given["jwt_signing_key"] or stored.get("jwt_signing_key") or "")
    listed = given["fernet_keys"] or stored.get("fernet_keys") or []
    fernet_keys = tuple(str(key) for key in listed) if isinstance(listed, list) else ()
    missing = [
        name
        for name, value in (
            ("DJANGO_SECRET_KEY", secret_key),
            ("DSTA_JWT_SIGNING_KEY", jwt_key),
            ("DSTA_FERNET_KEYS", fernet_keys),
        )
        if not value
    ]
    if missing:
        raise KeysRefused(
            f"{', '.join(missing)} must be set when DSTA_DEBUG=0 (or run `./dev up` once to create {KEYS_FILE})"
        )
    refuse_weak("DJANGO_SECRET_KEY", secret_key)
    refuse_weak("DSTA_JWT_SIGNING_KEY", jwt_key)
    return InstallationKeys(secret_key=secret_key, jwt_signing_key=jwt_key, fernet_keys=fernet_keys)


def settings_or_exit() -> None:
    """Load the project's settings, or say on stderr why its keys are refused and exit 1: a start refused for its
    keys is a message for the operator, not a traceback. Every entry point (manage.py, asgi, wsgi, the worker) calls
    it before Django loads anything else."""
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018  # imports DJANGO_SETTINGS_MODULE, which loads the keys
    except KeysRefused as refused:
        print(f"dsta: {refused}", file=sys.stderr)
        raise SystemExit(1) from None
