from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from dsta.core.tests.factories import access_token_for, bearer, user_with_role

pytestmark = pytest.mark.django_db


def test_profile_and_preferences():
    user = user_with_role("analyst")
    client = APIClient()
    client.credentials(**bearer(access_token_for(user)))
    assert client.put("/api/v1/users/preferences", {"preferences": {"theme": "dark"}}, format="json").status_code == 200
    profile = client.get("/api/v1/users/profile").json()
    assert profile["username"] == user.username and profile["roles"] == ["analyst"]
    assert profile["preferences"] == {"theme": "dark"}
    assert "market_data.*" in profile["permissions"]
    assert client.put("/api/v1/users/preferences", {"preferences": "dark"}, format="json").status_code == 400


@pytest.mark.parametrize(
    "model", ["role", "apikey", "secret", "configentry", "configversion", "featureflag", "notification", "auditentry"]
)
def test_admin_change_lists_render(client, model):
    admin = user_with_role("admin")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    assert client.get(f"/admin/core/{model}/").status_code == 200


def test_user_admin_shows_role_memberships(client):
    admin = user_with_role("admin")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    page = client.get(f"/admin/auth/user/{admin.pk}/change/")
    assert page.status_code == 200
    formsets = [line for line in page.content.decode().splitlines() if "TOTAL_FORMS" in line]
    assert any('value="1"' in line and "Role_users" in line for line in formsets), formsets  # the admin role


def test_secret_set_command_reads_stdin_and_refuses_empty(monkeypatch):
    import io

    from django.core.management import CommandError, call_command

    from dsta.core import api

    monkeypatch.setattr("sys.stdin", io.StringIO("bot-token-123\n"))
    out = io.StringIO()
    call_command("secret_set", "core/telegram/bot_token", stdout=out)
    assert out.getvalue().strip() == "core/telegram/bot_token: version 1"
    assert api.secret_get(key="core/telegram/bot_token") == "bot-token-123"
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(CommandError, match="no value on stdin"):
        call_command("secret_set", "k")


def test_the_admin_never_shows_a_secret_or_its_ciphertext(client):
    from dsta.core import api
    from dsta.core.models import Secret

    api.secret_set(key="exchange/gateio/api_secret", value="gateio-plain-secret")
    admin = user_with_role("admin")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    secret = Secret.objects.get(key="exchange/gateio/api_secret")
    for page in (client.get("/admin/core/secret/"), client.get(f"/admin/core/secret/{secret.pk}/change/")):
        assert page.status_code == 200
        assert b"exchange/gateio/api_secret" in page.content
        assert b"gateio-plain-secret" not in page.content and secret.ciphertext.encode() not in page.content
