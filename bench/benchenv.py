"""What every benchmark does first: its own database `<name>_bench` (bootstrapped and migrated like
production), its own Redis database, and production settings (DEBUG off: no per-query bookkeeping)."""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
# Overridable so that benchmarks from two checkouts at once do not share a Redis database.
BENCH_REDIS_DB = int(os.environ.get("DSTA_BENCH_REDIS_DB", "14"))


def configure_environment() -> None:
    sys.path.insert(0, str(ROOT))
    admin = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:55432/dsta")
    parts = urlsplit(admin)
    name = parts.path.lstrip("/")
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{name.removesuffix('_bench')}_bench"))
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:56379/0")
    os.environ["REDIS_URL"] = redis_url.rsplit("/", 1)[0] + f"/{BENCH_REDIS_DB}"
    os.environ.setdefault("DSTA_LOG_LEVEL", "WARNING")
    os.environ.setdefault("DSTA_DEBUG", "0")
    # Its servers and test clients speak plain http on 127.0.0.1: no redirect to https (DSTA_DEBUG=0 has one).
    os.environ.setdefault("DSTA_SSL_REDIRECT", "0")
    # DSTA_DEBUG=0 refuses to start without real keys: random ones for this run (its child processes inherit them).
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DSTA_JWT_SIGNING_KEY", secrets.token_urlsafe(48))
    os.environ.setdefault("DSTA_FERNET_KEYS", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dsta.settings")


def setup_django() -> None:
    """configure_environment(), django.setup(), then bootstrap_db and migrate_domains on the bench database."""
    configure_environment()
    import django

    django.setup()
    from django.core.management import call_command

    with open(os.devnull, "w") as quiet:
        call_command("bootstrap_db", verbosity=0, stdout=quiet)
        call_command("migrate_domains", verbosity=0, stdout=quiet)
