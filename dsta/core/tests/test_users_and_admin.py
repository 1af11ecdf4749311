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
