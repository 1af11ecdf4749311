from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.db import connections
from django.test import override_settings

from dsta.core import api
from dsta.core.crypto import SecretDecryptionError

pytestmark = pytest.mark.django_db


def stored_ciphertext(key: str) -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT ciphertext FROM secret WHERE key = %s", [key])
        return cursor.fetchone()[0]


def test_a_secret_is_stored_encrypted_and_read_back():
    metadata = api.secret_set(key="exchange/binance/api_key", value="k3y-plain-text", actor_id=7)
    assert (metadata.key, metadata.version) == ("exchange/binance/api_key", 1)
    assert "k3y-plain-text" not in stored_ciphertext("exchange/binance/api_key")
    assert api.secret_get(key="exchange/binance/api_key") == "k3y-plain-text"
    assert api.secret_set(key="exchange/binance/api_key", value="second").version == 2
    assert api.secret_get(key="exchange/binance/api_key") == "second"
    assert api.secret_get(key="missing") is None


def test_keys_rotate_newest_first_and_old_ciphertexts_stay_readable():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(DSTA_FERNET_KEYS=[old]):
        api.secret_set(key="k", value="v1")
    with override_settings(DSTA_FERNET_KEYS=[new, old]):
        assert api.secret_get(key="k") == "v1"
    with override_settings(DSTA_FERNET_KEYS=[new]), pytest.raises(SecretDecryptionError):
        api.secret_get(key="k")
