"""Secret encryption: MultiFernet over DSTA_FERNET_KEYS (comma-separated, newest first), so keys rotate
without re-encrypting everything at once: new writes use the first key, reads accept any."""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretDecryptionError(RuntimeError):
    pass


@cache
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet() -> MultiFernet:
    keys = tuple(key.strip() for key in settings.DSTA_FERNET_KEYS if key.strip())
    if not keys:  # settings load them (random per installation); nothing is derived from a published constant
        raise ImproperlyConfigured("DSTA_FERNET_KEYS must be set (or created under .dsta/ by a development start)")
    return _multi_fernet(keys)


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError("secret cannot be decrypted with the configured keys") from exc


def rotate(token: str) -> str:
    """Re-encrypt under the newest key."""
    return fernet().rotate(token.encode()).decode()
