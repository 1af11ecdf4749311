import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):  # type: ignore[no-untyped-def]
    # PBKDF2's deliberate slowness buys nothing here: the attacks are on the checks around it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_login_counters():  # type: ignore[no-untyped-def]
    from dsta.core.tests.factories import clear_login_counters

    clear_login_counters()
    yield
    clear_login_counters()
