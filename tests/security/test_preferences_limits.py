"""Issue 20.13 (preferences): a user's preferences are bounded in keys, key length and value size (400 with
field errors), so an account cannot store megabytes in its row."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from dsta.core.serializers import PREFERENCES_MAX_KEYS, PREFERENCES_MAX_VALUE_BYTES
from dsta.core.tests.factories import access_token_for, bearer, user_with_role

pytestmark = pytest.mark.django_db
URL = "/api/v1/users/preferences"


@pytest.fixture
def viewer() -> APIClient:
    client = APIClient()
    client.credentials(**bearer(access_token_for(user_with_role("viewer"))))
    return client


def put(client: APIClient, values: dict) -> tuple[int, dict]:
    response = client.put(URL, {"preferences": values}, format="json")
    return response.status_code, response.json()


def test_a_two_megabyte_value_is_a_400_naming_the_key_and_nothing_is_stored(viewer):
    assert put(viewer, {"theme": "dark"})[0] == 200
    status, body = put(viewer, {"theme": "dark", "notes": "x" * 2_000_000})
    assert status == 400
    assert list(body["preferences"]) == ["notes"] and "at most 16384 bytes" in body["preferences"]["notes"][0]
    assert viewer.get(URL).json()["preferences"] == {"theme": "dark"}  # the earlier preferences are kept


def test_the_limits_themselves_are_accepted(viewer):
    # A string of n characters is n + 2 bytes as JSON (its quotes); multi-byte characters count as bytes.
    largest = {f"k{index}": "x" * (PREFERENCES_MAX_VALUE_BYTES - 2) for index in range(PREFERENCES_MAX_KEYS)}
    assert put(viewer, largest)[0] == 200
    status, body = put(viewer, {"wide": "é" * (PREFERENCES_MAX_VALUE_BYTES // 2)})
    assert status == 400 and "wide" in body["preferences"]


def test_too_many_keys_or_a_too_long_key_is_a_400(viewer):
    status, body = put(viewer, {f"k{index}": 1 for index in range(PREFERENCES_MAX_KEYS + 1)})
    assert status == 400 and "at most 64 keys" in body["preferences"][0]
    status, body = put(viewer, {"k" * 101: 1, "": 2, "fine": 3})
    assert status == 400 and set(body["preferences"]) == {"k" * 100, ""}
