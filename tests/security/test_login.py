"""Issues 20.3, 20.4 and 20.9: every sign-in goes through one check (throttle, lockout, audit); lockout is per
(account, address) so guessing cannot lock the owner out; the client address cannot be forged."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.test import Client
from rest_framework.test import APIClient

from dsta.core import auth
from dsta.core.models import AuditEntry
from dsta.core.tests.factories import PASSWORD, user_with_role

ROOT = Path(__file__).resolve().parents[2]


def api_login(username: str, password: str, ip: str = "127.0.0.1"):  # type: ignore[no-untyped-def]
    return APIClient(REMOTE_ADDR=ip).post(
        "/api/v1/auth/login", {"username": username, "password": password}, format="json"
    )


def admin_login(client: Client, username: str, password: str):  # type: ignore[no-untyped-def]
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


def clear_locks() -> None:
    """What waiting out a lock does: the lock keys expire (the failure counts stay)."""
    client = auth.redis_client()
    for key in client.scan_iter("dsta:core:login:lock:*"):
        client.delete(key)


@pytest.mark.django_db
def test_admin_login_cannot_guess_past_the_lockout():
    admin = user_with_role("admin", username="root-admin")
    admin.is_staff = True
    admin.save()
    client = Client()
    for _ in range(8):
        assert admin_login(client, admin.username, "wrong-password").status_code == 200  # the form again
    response = admin_login(client, admin.username, PASSWORD)
    assert response.status_code == 200 and b"Too many login attempts" in response.content
    assert "_auth_user_id" not in client.session
    failures = AuditEntry.objects.filter(action="auth.login_failed", target="user:root-admin").count()
    assert failures == 5  # audited until the lock; the locked tries never reach the password check


@pytest.mark.django_db
def test_admin_login_is_refused_while_the_api_has_locked_that_address():
    admin = user_with_role("admin", username="api-locked")
    admin.is_staff = True
    admin.save()
    for _ in range(5):
        api_login(admin.username, "wrong-password")
    assert api_login(admin.username, PASSWORD).status_code == 429
    client = Client()
    assert b"Too many login attempts" in admin_login(client, admin.username, PASSWORD).content
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_successful_admin_login_is_audited():
    admin = user_with_role("admin", username="audited-admin")
    admin.is_staff = True
    admin.save()
    client = Client()
    assert admin_login(client, admin.username, PASSWORD).status_code == 302
    entry = AuditEntry.objects.get(action="auth.login", actor_id=admin.pk)
    assert entry.details == {"via": "admin"} and entry.ip_address == "127.0.0.1"


@pytest.mark.django_db
def test_guessing_from_one_address_does_not_lock_the_owner_out_elsewhere():
    admin = user_with_role("admin", username="target")
    for _ in range(6):
        api_login(admin.username, "wrong-password", ip="203.0.113.7")
    assert api_login(admin.username, PASSWORD, ip="203.0.113.7").status_code == 429
    assert api_login(admin.username, PASSWORD, ip="198.51.100.20").status_code == 200


@pytest.mark.django_db
def test_the_lockout_grows_with_each_further_failure(settings):
    settings.DSTA_LOGIN_MAX_FAILURES = 3
    settings.DSTA_LOGIN_LOCKOUT_BASE_SECONDS = 30
    settings.DSTA_LOGIN_LOCKOUT_SECONDS = 900
    user = user_with_role("viewer", username="slowly")
    waits = []
    for _ in range(3):
        api_login(user.username, "wrong-password")
    for _ in range(3):
        locked = api_login(user.username, "wrong-password")
        assert locked.status_code == 429
        waits.append(int(locked["Retry-After"]))
        clear_locks()
        assert api_login(user.username, "wrong-password").status_code == 401  # one more guess after the wait
    assert 25 <= waits[0] <= 30 and 55 <= waits[1] <= 60 and 115 <= waits[2] <= 120


@pytest.mark.django_db
def test_an_attack_from_many_addresses_slows_but_never_locks_the_owner_out(settings):
    settings.DSTA_LOGIN_ACCOUNT_CEILING = 10
    settings.DSTA_LOGIN_SLOW_SECONDS = 30
    owner = user_with_role("admin", username="owner")
    assert api_login(owner.username, PASSWORD, ip="192.0.2.10").status_code == 200  # the owner's usual address
    for attacker in range(12):  # a botnet: two guesses per address, under every per-address limit
        for _ in range(2):
            api_login(owner.username, "wrong-password", ip=f"198.51.100.{attacker}")
    # Past the ceiling (10 failures) all unknown addresses together get one try per 30 s: 11 guesses of 24.
    assert AuditEntry.objects.filter(action="auth.login_failed", actor_id=owner.pk).count() == 11
    later = [api_login(owner.username, "wrong-password", ip=f"203.0.113.{n}") for n in range(3)]
    assert [response.status_code for response in later] == [429, 429, 429]
    assert all(0 < int(response["Retry-After"]) <= 30 for response in later)
    assert api_login(owner.username, PASSWORD, ip="192.0.2.10").status_code == 200  # the owner still gets in


def _web_server_argv(port: int) -> list[str]:
    spec = importlib.util.spec_from_file_location("dev_script", ROOT / "scripts" / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv: list[str] = module.web_server_argv(port)
    return argv


@pytest.mark.django_db(transaction=True)
def test_x_forwarded_for_is_not_believed_from_an_untrusted_peer(children, tmp_path):
    from dsta.kernel.tests import processes

    user_with_role("viewer", username="forwarded")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = _web_server_argv(port)
    assert argv[0] == sys.executable
    web = children(processes.Child("web", argv, processes.child_env(), tmp_path))
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1):  # noqa: S310
                return True
        except OSError:
            return False

    assert processes.wait_until(up, timeout=120), web.log_tail()
    for n in range(3):
        request = urllib.request.Request(  # noqa: S310
            f"{base}/api/v1/auth/login",
            data=json.dumps({"username": "forwarded", "password": "wrong"}).encode(),
            headers={"Content-Type": "application/json", "X-Forwarded-For": f"203.0.113.{n}"},
        )
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(request, timeout=10)  # noqa: S310
    addresses = set(AuditEntry.objects.filter(action="auth.login_failed").values_list("ip_address", flat=True))
    assert addresses == {"127.0.0.1"}
