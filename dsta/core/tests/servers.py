"""Real local servers on 127.0.0.1 for notification tests: an HTTP server that records requests and answers
from a script (Telegram Bot API, webhooks), and an SMTP server (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self):  # type: ignore[no-untyped-def]
        return json.loads(self.body)


@dataclass
class HttpRecorder:
    """Answers each POST with the next status of `statuses` (then 200) and a JSON body."""

    statuses: list[int] = field(default_factory=list)
    answer: dict[str, object] = field(default_factory=lambda: {"ok": True})
    requests: list[Recorded] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HttpRecorder:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                recorder.requests.append(Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = recorder.statuses.pop(0) if recorder.statuses else 200
                payload = json.dumps(recorder.answer if status == 200 else {"ok": False}).encode()
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
