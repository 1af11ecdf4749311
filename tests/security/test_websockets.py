"""Issues 20.6 and 20.7: sockets end with the login that opened them, check Origin, survive bad frames, answer
unknown routes with 404, take the token outside the URL, and the URL's query string never reaches a log."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from dsta.asgi import application
from dsta.core import auth, config
from dsta.core.tests.factories import user_with_role

pytestmark = pytest.mark.django_db(transaction=True)
WATCH = "/api/v1/config/watch"


def watcher(token: str, **options) -> WebsocketCommunicator:  # type: ignore[no-untyped-def]
    return WebsocketCommunicator(application, WATCH, subprotocols=["dsta.bearer", token], **options)


async def change(value: object) -> None:
    await database_sync_to_async(config.config_set)(key="ui.theme", value=value)


@pytest.fixture
def analyst_pair():  # type: ignore[no-untyped-def]
    return auth.tokens_issue(user=user_with_role("analyst"))


def test_the_token_travels_in_the_subprotocol_and_the_server_selects_it(analyst_pair):
    async def scenario() -> object:
        communicator = watcher(analyst_pair.access_token)
        connected, subprotocol = await communicator.connect()
        await communicator.disconnect()
        return connected, subprotocol

    assert asyncio.run(scenario()) == (True, "dsta.bearer")


def test_logout_closes_an_open_watch_before_the_next_change(analyst_pair, settings):
    settings.DSTA_WS_RECHECK_SECONDS = 0  # every push re-checks (the default allows one second of grace)

    async def scenario() -> list[object]:
        communicator = watcher(analyst_pair.access_token)
        assert (await communicator.connect())[0]
        await change({"n": 1})
        first = await communicator.receive_json_from(timeout=5)
        await database_sync_to_async(auth.logout)(access_token=analyst_pair.access_token)
        await change({"n": 2})
        after = await communicator.receive_json_from(timeout=5)
        closed = await communicator.receive_output(timeout=5)
        return [first["value"], after, closed]

    assert asyncio.run(scenario()) == [{"n": 1}, {"error": "session ended"}, {"type": "websocket.close", "code": 4401}]


def test_an_expired_token_stops_receiving(settings):
    import uuid
    from datetime import timedelta

    from dsta.kernel.clock import utc_now

    issued = utc_now() - timedelta(seconds=settings.DSTA_JWT_ACCESS_TTL_SECONDS - 3)  # expires 3 s from now
    token, _ = auth._access_token(user_with_role("analyst"), uuid.uuid4(), issued)
    pair = type("Pair", (), {"access_token": token})
    settings.DSTA_WS_IDLE_RECHECK_SECONDS = 0.5

    async def scenario() -> list[object]:
        communicator = watcher(pair.access_token)
        assert (await communicator.connect())[0]
        assert await communicator.receive_nothing(timeout=2)  # still valid for a while
        return [await communicator.receive_json_from(timeout=6), await communicator.receive_output(timeout=6)]

    assert asyncio.run(scenario()) == [{"error": "session ended"}, {"type": "websocket.close", "code": 4401}]


def test_an_idle_socket_is_closed_by_the_timer_after_logout(analyst_pair, settings):
    settings.DSTA_WS_IDLE_RECHECK_SECONDS = 0.2

    async def scenario() -> object:
        communicator = watcher(analyst_pair.access_token)
        assert (await communicator.connect())[0]
        await database_sync_to_async(auth.logout)(access_token=analyst_pair.access_token)
        await communicator.receive_json_from(timeout=3)  # {"error": "session ended"}
        return await communicator.receive_output(timeout=3)

    assert asyncio.run(scenario()) == {"type": "websocket.close", "code": 4401}


def test_a_cross_site_origin_is_refused(analyst_pair):
    async def connected(origin: bytes) -> bool:
        communicator = watcher(analyst_pair.access_token, headers=[(b"origin", origin)])
        ok, _ = await communicator.connect()
        if ok:
            await communicator.disconnect()
        return ok

    async def scenario() -> list[bool]:
        return [await connected(b"https://evil.example"), await connected(b"http://127.0.0.1:8000")]

    assert asyncio.run(scenario()) == [False, True]


def test_a_bad_frame_gets_an_error_message_and_the_socket_lives_on(analyst_pair):
    async def scenario() -> list[object]:
        communicator = watcher(analyst_pair.access_token)
        assert (await communicator.connect())[0]
        answers = []
        for frame in ("{not json", "[" * 5000):
            await communicator.send_to(text_data=frame)
            answers.append((await communicator.receive_json_from(timeout=5))["error"].split(":")[0])
        await communicator.send_to(bytes_data=b"\x00\x01")
        answers.append((await communicator.receive_json_from(timeout=5))["error"])
        await change({"still": "alive"})
        answers.append((await communicator.receive_json_from(timeout=5))["value"])
        await communicator.disconnect()
        return answers

    assert asyncio.run(scenario()) == [
        "not JSON",
        "JSON nested deeper than 32 levels",
        "send JSON in text frames",
        {"still": "alive"},
    ]


def test_an_unknown_websocket_route_is_a_404():
    async def scenario() -> tuple[bool, object]:
        communicator = WebsocketCommunicator(application, "/api/v1/no-such-socket")
        return await communicator.connect()

    assert asyncio.run(scenario()) == (False, 4404)


@pytest.mark.slow
def test_query_strings_never_reach_the_server_log(children, tmp_path, analyst_pair):
    import websockets.sync.client

    from dsta.kernel.tests import processes
    from tests.security.test_login import _web_server_argv

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    web = children(processes.Child("web", _web_server_argv(port), processes.child_env(), tmp_path))

    def up() -> bool:
        try:
            websockets.sync.client.connect(f"ws://127.0.0.1:{port}/api/v1/no-such", open_timeout=1).close()
        except websockets.exceptions.InvalidStatus:
            return True
        except OSError:
            return False
        return True

    assert processes.wait_until(up, timeout=120), web.log_tail()
    token = analyst_pair.access_token
    with websockets.sync.client.connect(f"ws://127.0.0.1:{port}{WATCH}?token={token}", open_timeout=10) as ws:
        assert ws.protocol.state.name == "OPEN"
    with websockets.sync.client.connect(
        f"ws://127.0.0.1:{port}{WATCH}", subprotocols=["dsta.bearer", token], open_timeout=10
    ) as ws:
        assert ws.subprotocol == "dsta.bearer"
    time.sleep(0.5)
    log = web.log_path.read_text()
    assert "WebSocket /api/v1/config/watch?[redacted]" in log
    assert token not in log
