"""Passwords of the embedded Postgres and Redis that `./dev up` and `./dev test` start when no DATABASE_URL /
REDIS_URL is given: random per installation, in `<state dir>/service-passwords.json` (mode 0600), like the
installation keys. The Postgres superuser, Redis and each domain's login role get one each. Plain Python, so
scripts/dev.py uses it before Django is set up and the settings read it for their embedded defaults."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path

PASSWORDS_FILE = "service-passwords.json"


def role_key(domain: str) -> str:
    return f"role_{domain}"


def passwords(state_dir: Path, *, domains: tuple[str, ...], create: bool) -> dict[str, str]:
    """The stored passwords; with `create`, any that are missing are generated and stored first."""
    path = state_dir / PASSWORDS_FILE
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    wanted = ("postgres", "redis", *(role_key(domain) for domain in domains))
    missing = [name for name in wanted if name not in stored]
    if create and missing:
        stored.update({name: secrets.token_urlsafe(24) for name in missing})  # URL-safe: goes into URLs as is
        _write(path, stored)
    elif path.exists() and path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return stored


def _write(path: Path, content: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            json.dump(content, handle)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
