"""Settings of the web process that test_secret_leaks.py starts: the project's own, plus the test-only views
that fail (tests/security/debug_urls.py), so a real server can be made to answer a 500."""

from dsta.settings import *  # noqa: F403

ROOT_URLCONF = "tests.security.debug_urls"
