"""Real local servers on 127.0.0.1 for notification tests: an HTTP server that records requests and answers
from a script (Telegram Bot API, webhooks), a Telegram Bot API that queues updates for getUpdates and keeps
what sendMessage sends, and an SMTP server (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from aiosmtpd.controller import Controller


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self):  # type: ignore[no-untyped-def]
        return json.loads(self.body)


class JsonPostServer:
    """A threaded HTTP server on 127.0.0.1 that answers each POST with the JSON `respond` returns."""

    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def respond(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, object]]:
        raise NotImplementedError

    def start(self) -> Self:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, answer = owner.respond(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class HttpRecorder(JsonPostServer):
    """Answers each POST with the next status of `statuses` (then 200) and a JSON body."""

    statuses: list[int] = field(default_factory=list)
    answer: dict[str, object] = field(default_factory=lambda: {"ok": True})
    requests: list[Recorded] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def respond(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, object]]:
        self.requests.append(Recorded(path, headers, body))
        status = self.statuses.pop(0) if self.statuses else 200
        return status, self.answer if status == 200 else {"ok": False}


class TelegramBotApi(JsonPostServer):
    """The two Bot API methods DSTA uses, as Telegram answers them: `getUpdates` hands the queued updates from
    `offset` on and forgets (confirms) every earlier one; `sendMessage` is kept in `sent`. A wrong token is a
    401. Updates are queued with `message(chat_id, text)`."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.pending: list[dict[str, object]] = []
        self.sent: list[dict[str, object]] = []
        self.calls: list[tuple[str, dict[str, object]]] = []  # (method, payload) of every call
        self.next_update_id = 700_000_000
        self.lock = threading.Lock()

    def message(self, chat_id: int, text: str, *, date: int = 1_800_000_000) -> int:
        """Queue a private chat's text message; returns its update id."""
        with self.lock:
            self.next_update_id += 1
            update_id = self.next_update_id
            self.pending.append(
                {
                    "update_id": update_id,
                    "message": {
                        "message_id": update_id - 700_000_000,
                        "date": date,
                        "chat": {"id": chat_id, "type": "private"},
                        "from": {"id": chat_id, "is_bot": False, "first_name": "Tester"},
                        "text": text,
                    },
                }
            )
        return update_id

    def texts_to(self, chat_id: int | str) -> list[str]:
        with self.lock:
            return [str(sent["text"]) for sent in self.sent if str(sent["chat_id"]) == str(chat_id)]

    def _answer(self, method: str, payload: dict[str, object]) -> tuple[int, dict[str, object]]:
        with self.lock:
            self.calls.append((method, payload))
            if method == "getUpdates":
                offset = payload.get("offset")
                if isinstance(offset, int):
                    self.pending = [u for u in self.pending if int(u["update_id"]) >= offset]  # type: ignore[call-overload]
                limit = int(payload.get("limit", 100))  # type: ignore[call-overload]
                return 200, {"ok": True, "result": self.pending[:limit]}
            if method == "sendMessage":
                if not payload.get("chat_id") or not payload.get("text"):
                    return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}
                self.sent.append(payload)
                return 200, {"ok": True, "result": {"message_id": len(self.sent), "text": payload["text"]}}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}

    def respond(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, object]]:
        prefix, _, method = path.lstrip("/").partition("/")
        if prefix != f"bot{self.token}":
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        return self._answer(method, json.loads(body or b"{}"))


class MailKeeper:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode()))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def smtp_server() -> tuple[Controller, MailKeeper]:
    keeper = MailKeeper()
    controller = Controller(keeper, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller, keeper
