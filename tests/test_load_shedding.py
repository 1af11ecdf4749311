"""Load shedding: the admission bound in front of the request threads (dsta/admission.py) and the API's rate
limits per user and per API key (dsta/kernel/throttles.py). The storm itself, against a real server, is
bench/order_load.py --storm."""

from __future__ import annotations

import asyncio

import pytest
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient

from dsta.admission import BoundedAdmission
from dsta.core.tests.factories import access_token_for, bearer, user_with_role
from dsta.domains import DOMAINS


class HeldApp:
    """An ASGI app whose requests are held until released: the request threads, all busy."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        self.entered += 1
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})


async def call(app, path: str) -> tuple[int, dict[bytes, bytes]]:  # type: ignore[no-untyped-def]
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app({"type": "http", "path": path, "method": "GET", "headers": []}, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"])


def test_requests_over_the_bound_are_shed_at_once_and_healthz_answers_while_saturated():
    async def scenario() -> None:
        inner = HeldApp()
        app = BoundedAdmission(inner, limit=2, retry_after_seconds=3)
        held = [asyncio.create_task(call(app, "/api/v1/orders")) for _ in range(2)]
        await asyncio.sleep(0.01)
        assert inner.entered == 2
        status, headers = await asyncio.wait_for(call(app, "/api/v1/orders"), timeout=1)
        assert (status, headers[b"retry-after"]) == (503, b"3")
        assert inner.entered == 2  # the shed request never reached the app
        assert (await asyncio.wait_for(call(app, "/healthz"), timeout=1))[0] == 200
        inner.release.set()
        assert [(await task)[0] for task in held] == [200, 200]
        assert app.in_flight == 0
        assert (await asyncio.wait_for(call(app, "/api/v1/orders"), timeout=1))[0] == 200

    asyncio.run(scenario())


ALL_ALIASES = [domain.alias for domain in DOMAINS]
RATES = {"dsta_user": "5/min", "dsta_api_key": "2/min"}


@pytest.fixture
def limited():
    from django.conf import settings

    cache.clear()
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": RATES}):
        yield APIClient()
    cache.clear()


@pytest.mark.django_db(databases=ALL_ALIASES)
def test_a_user_over_its_rate_gets_429_with_retry_after_and_other_users_do_not(limited):
    first, second = user_with_role("trader"), user_with_role("trader")
    statuses = [limited.get("/api/v1/orders/active", **bearer(access_token_for(first))).status_code for _ in range(6)]
    assert statuses == [200, 200, 200, 200, 200, 429]
    refused = limited.get("/api/v1/orders/active", **bearer(access_token_for(first)))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert limited.get("/api/v1/orders/active", **bearer(access_token_for(second))).status_code == 200


@pytest.mark.django_db(databases=ALL_ALIASES)
def test_an_api_key_has_its_own_rate_inside_its_users(limited):
    user = user_with_role("trader")
    token = access_token_for(user)
    created = limited.post(
        "/api/v1/auth/api-keys", {"name": "bot", "scopes": ["trading.*"]}, format="json", **bearer(token)
    )
    assert created.status_code == 201, created.content
    key = created.json()["key"]
    statuses = [limited.get("/api/v1/orders/active", HTTP_X_API_KEY=key).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    # the user's count has 4 of its 5: the key's creation and the three through the key (the user's throttle
    # counts a request before the key's refuses it); one more with the token, then refused

    assert limited.get("/api/v1/orders/active", **bearer(token)).status_code == 200
    assert limited.get("/api/v1/orders/active", **bearer(token)).status_code == 429
