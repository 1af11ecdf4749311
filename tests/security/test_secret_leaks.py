"""Issue 18.3: no secret the product handles appears in anything an attacker (or a careless operator) gets to
read: log lines, error responses, admin list pages, audit entries (and every other stored row), exception reports.

One run against real processes: a uvicorn web process (in DEBUG, so a loopback client gets the detailed error
page, the harshest case) and a dramatiq worker (production mode, JSON logs), on a private Redis that wants a
password, with Sentry pointed at a local collector. Every kind of secret is planted, then used in requests that
succeed and that fail (400, 401, 403, 404, and a 500 carrying an Authorization header, cookies and a token in
the query string). Afterwards every captured text is searched for every secret value, and for every 12-character
piece of each key-like one; the failure names each secret and where it was found.

(Postgres here trusts local connections, so the passwords in DATABASE_URL and DSTA_DB_PASSWORD_<DOMAIN> are
not checked by the server; they still sit in every process's settings and connection strings, which is what
matters for a leak.)
"""

from __future__ import annotations

import json
import os
import re
import secrets as random_secrets
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from cryptography.fernet import Fernet

from dsta.core.tests.servers import HttpRecorder, TelegramBotApi
from dsta.domains import DOMAINS
from dsta.exchange.tests.fake_venues import Binance, FakeVenueServer
from dsta.kernel.tests import processes
from tests.reliability.harness import free_port, wait_http
from tests.test_sentry import _Collector

ROOT = Path(__file__).resolve().parents[2]
ALL = [domain.alias for domain in DOMAINS]
WINDOW = 12  # a key must not show up even in part: no piece of this length of it may appear
CONFIG_SECRET_KEY = "payments/provider/token"  # noqa: S105  (the name of a stored secret, not its value)


@pytest.fixture(autouse=True)
def _hashers_of_the_started_processes(settings):  # type: ignore[no-untyped-def]
    # The conftest's fast MD5 hasher is not one the started processes accept: they check these passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]


# -- the search ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planted:
    name: str
    value: str
    pieces: bool = True  # search every WINDOW-long piece, not only the whole value
    public_prefix: str = ""  # a part shown on purpose (an API key's `dsta_<prefix>_`), left out of the pieces

    def needles(self) -> list[str]:
        hidden = self.value.removeprefix(self.public_prefix)
        found = {self.value}
        if self.pieces and len(hidden) > WINDOW:
            found |= {hidden[start : start + WINDOW] for start in range(len(hidden) - WINDOW + 1)}
        return sorted(found, key=len, reverse=True)


def leaks(planted: list[Planted], sources: dict[str, str]) -> list[str]:
    """`<secret> in <source>: ...context...` for each secret found (whole or a piece) in each captured text."""
    found = []
    for secret in planted:
        needles = secret.needles()
        for where, text in sources.items():
            for needle in needles:
                at = text.find(needle)
                if at >= 0:
                    whole = "whole value" if needle == secret.value else f"piece {needle!r}"
                    context = text[max(0, at - 80) : at + len(needle) + 80].replace("\n", "\\n")
                    found.append(f"{secret.name} ({whole}) in {where}: ...{context}...")
                    break
    return found


def test_the_search_finds_a_secret_whole_or_in_part_and_only_outside_its_public_prefix():
    key = Planted("api key", "dsta_0123456789ab_" + "S" * 10 + "0123456789ABCDEF", public_prefix="dsta_0123456789ab_")
    password = Planted("password", "a-password-of-some-length", pieces=False)
    sources = {
        "admin page": "prefix dsta_0123456789ab_ shown on purpose",
        "log": "... 3456789ABCDE ...",  # 12 characters of the key's secret part
        "row": "a-password-of-some-lengt",  # a password only counts whole
        "error": "a-password-of-some-length!",
    }
    assert [line.split(":")[0] for line in leaks([key, password], sources)] == [
        "api key (piece '3456789ABCDE') in log",
        "password (whole value) in error",
    ]


# -- what the run captures ------------------------------------------------------------------------------------------


@dataclass
class Capture:
    base_url: str
    errors: dict[str, str] = field(default_factory=dict)  # "<n> METHOD path -> status": headers and body
    pages: dict[str, str] = field(default_factory=dict)  # admin pages
    statuses: list[int] = field(default_factory=list)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=60, event_hooks={"response": [self._record]})

    def _record(self, response: httpx.Response) -> None:
        response.read()
        self.statuses.append(response.status_code)
        if response.status_code >= 400:
            request = response.request
            where = f"{len(self.errors)} {request.method} {request.url.path} -> {response.status_code}"
            headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
            self.errors[where] = f"{headers}\n\n{response.text}"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


def with_password(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}" + (f":{parts.port}" if parts.port else "")))


def stored_rows() -> dict[str, str]:
    """Every row of every model (audit log, notifications and their delivery log, outboxes, config, ...)."""
    from django.apps import apps
    from django.contrib.sessions.models import Session
    from django.db import router

    rows: dict[str, str] = {}
    for model in apps.get_models(include_auto_created=True):
        alias = router.db_for_read(model)
        if alias is None:
            continue
        values = list(model._default_manager.using(alias).values())
        if model is Session:  # the session key is the cookie by Django's design; the data is still searched
            values = [{**row, "session_key": "(the cookie)"} for row in values]
        rows[f"rows of {model._meta.label}"] = "\n".join(json.dumps(row, default=str) for row in values)
    return rows


def sentry_reports() -> dict[str, str]:
    return {
        f"sentry report {index} ({path})": body.decode(errors="replace")
        for index, (path, body) in enumerate(_Collector.received)
    }


@pytest.fixture
def sentry_collector():  # type: ignore[no-untyped-def]
    _Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def private_redis(tmp_path):  # type: ignore[no-untyped-def]
    """A Redis of its own that wants a password (as the embedded one of `./dev up` does)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("dsta_dev_script", ROOT / "scripts" / "dev.py")
    assert spec and spec.loader
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)
    password, port = random_secrets.token_urlsafe(24), free_port()
    argv = [dev.redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(tmp_path), "--requirepass", password]
    server = processes.Child("redis", argv, dict(os.environ), tmp_path).start()
    try:
        assert processes.wait_until(lambda: dev.port_open(port), timeout=30), server.log_tail()
        yield f"redis://:{password}@127.0.0.1:{port}/0", password
    finally:
        server.stop()  # after the processes that use it (requested before `children`)


@pytest.fixture
def fakes():  # type: ignore[no-untyped-def]
    """The outside world the secrets are for: a Binance, Telegram's Bot API (given its token) and a webhook
    receiver whose first delivery fails."""
    started: list = []

    def start(telegram_token: str) -> tuple[FakeVenueServer, TelegramBotApi, HttpRecorder]:
        servers = FakeVenueServer(Binance()).start(), TelegramBotApi(telegram_token).start(), HttpRecorder([502])
        started.extend([*servers[:2], servers[2].start()])
        return servers

    yield start
    for server in started:
        server.stop()


# -- the run --------------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(databases=ALL, transaction=True)
def test_no_secret_reaches_logs_error_responses_admin_pages_stored_rows_or_exception_reports(
    sentry_collector, private_redis, fakes, settings, tmp_path, children
):
    from django.contrib import admin as django_admin
    from django.contrib.auth import get_user_model

    from dsta.core import api as core_api
    from dsta.core.models import AuditEntry, Notification, Role
    from dsta.core.notifications import TELEGRAM_TOKEN_SECRET, WEBHOOK_KEY_SECRET
    from dsta.core.roles import ensure_built_in_roles

    token = random_secrets.token_urlsafe
    redis_url, redis_password = private_redis
    fernet_key = Fernet.generate_key().decode()
    db_password = token(24)
    role_passwords = {domain.name: token(24) for domain in DOMAINS}
    values = {
        "admin password": token(18),
        "trader password": token(18),
        "mistyped password": token(18),
        "venue api key": token(32),
        "venue api secret": token(48),
        "stored secret (Fernet)": token(32),
        "telegram bot token": f"{random_secrets.randbelow(10**9)}:{token(30)}",
        "wrong telegram bot token": f"{random_secrets.randbelow(10**9)}:{token(30)}",
        "webhook signing key": token(32),
        "DJANGO_SECRET_KEY": token(50),
        "DSTA_JWT_SIGNING_KEY": token(48),
        "DSTA_FERNET_KEYS": fernet_key,
        "SMTP password": token(24),
        "metrics token": token(24),
        "database password": db_password,
        "redis password": redis_password,
        **{f"{name} role's database password": password for name, password in role_passwords.items()},
    }
    planted = [Planted(name, value) for name, value in values.items()]

    # Secrets at rest, encrypted with the processes' own Fernet key.
    settings.DSTA_FERNET_KEYS = [fernet_key]
    core_api.secret_set(key=TELEGRAM_TOKEN_SECRET, value=values["wrong telegram bot token"])
    core_api.secret_set(key=WEBHOOK_KEY_SECRET, value=values["webhook signing key"])
    core_api.secret_set(key=CONFIG_SECRET_KEY, value=values["stored secret (Fernet)"])
    ensure_built_in_roles()
    admin = get_user_model().objects.create_superuser("leak-admin", password=values["admin password"])
    Role.objects.get(name="admin").users.add(admin)
    trader = get_user_model().objects.create_user("leak-trader", password=values["trader password"])
    Role.objects.get(name="trader").users.add(trader)

    venue, telegram, webhook = fakes(values["telegram bot token"])
    port = free_port()
    env = {
        "DATABASE_URL": with_password(os.environ["DATABASE_URL"], "postgres", db_password),
        **{f"DSTA_DB_PASSWORD_{name.upper()}": password for name, password in role_passwords.items()},
        "REDIS_URL": redis_url,
        "DJANGO_SECRET_KEY": values["DJANGO_SECRET_KEY"],
        "DSTA_JWT_SIGNING_KEY": values["DSTA_JWT_SIGNING_KEY"],
        "DSTA_FERNET_KEYS": fernet_key,
        "DSTA_SMTP_PASSWORD": values["SMTP password"],
        "DSTA_METRICS_TOKEN": values["metrics token"],
        "DSTA_STATE_DIR": str(tmp_path / "state"),
        "SENTRY_DSN": f"http://publickey@127.0.0.1:{sentry_collector.server_address[1]}/7",
        "DSTA_LOG_LEVEL": "INFO",
        "DSTA_TELEGRAM_API_URL": telegram.url,
        "DSTA_EXCHANGE_BINANCE_URL": venue.url,
        "DSTA_OUTBOUND_ALLOWLIST": "127.0.0.1",
        "DSTA_NOTIFY_MAX_ATTEMPTS": "2",
        "DSTA_NOTIFY_BACKOFF_SECONDS": "0.05",
    }
    web = children(
        processes.Child(
            "web",
            [sys.executable, "-m", "uvicorn", "dsta.asgi:application", "--host", "127.0.0.1", "--port", str(port)],
            processes.child_env(**env, DSTA_DEBUG="1", DJANGO_SETTINGS_MODULE="tests.security.leak_settings"),
            tmp_path,
        )
    )
    worker = children(processes.worker(tmp_path, **env, DSTA_DEBUG="0"))
    # The venue's credentials through the documented command (value on stdin); its output is searched too.
    cli = subprocess.run(
        [sys.executable, "manage.py", "secret_set", "exchange/binance/api_key"],
        input=values["venue api key"] + "\n",
        cwd=ROOT,
        env=processes.child_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr[-3000:]
    core_api.secret_set(key="exchange/binance/secret", value=values["venue api secret"])
    base = f"http://127.0.0.1:{port}"
    assert wait_http(f"{base}/healthz", timeout=120), web.log_tail()
    capture = Capture(base)

    with capture.client() as api:
        # Passwords: a failed and a successful login, over the API.
        wrong = {"username": "leak-trader", "password": values["mistyped password"]}
        assert api.post("/api/v1/auth/login", json=wrong).status_code == 401
        assert api.post("/api/v1/auth/login", json={"username": "leak-trader"}).status_code == 400
        pair = api.post("/api/v1/auth/login", json={"username": "leak-trader", "password": values["trader password"]})
        assert pair.status_code == 200, pair.text
        access, refresh = pair.json()["access_token"], pair.json()["refresh_token"]
        # JWTs: used, tampered with, refreshed, the old refresh token replayed (theft: the family is revoked).
        trader_auth = {"Authorization": f"Bearer {access}"}
        assert api.get("/api/v1/users/profile", headers=trader_auth).status_code == 200
        tampered = {"Authorization": f"Bearer {access[:-4]}AAAA"}
        assert api.get("/api/v1/users/profile", headers=tampered).status_code == 401
        # A stored secret refused to a trader.
        assert api.get(f"/api/v1/config/secrets/{CONFIG_SECRET_KEY}", headers=trader_auth).status_code == 403
        rotated = api.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
        assert rotated.status_code == 200, rotated.text
        assert api.post("/api/v1/auth/refresh", json={"refresh_token": refresh}).status_code == 401

        admin_pair = api.post(
            "/api/v1/auth/login", json={"username": "leak-admin", "password": values["admin password"]}
        )
        assert admin_pair.status_code == 200, admin_pair.text
        admin_access, admin_refresh = admin_pair.json()["access_token"], admin_pair.json()["refresh_token"]
        admin_auth = {"Authorization": f"Bearer {admin_access}"}
        secret_read = api.get(f"/api/v1/config/secrets/{CONFIG_SECRET_KEY}", headers=admin_auth)
        assert secret_read.json()["value"] == values["stored secret (Fernet)"]  # the one place it may leave
        # absent (404), a forged token (401)
        assert api.get("/api/v1/config/secrets/no/such/secret", headers=admin_auth).status_code == 404
        assert api.get("/api/v1/config/secrets/x", headers=tampered).status_code == 401

        # An API key: created, used, refused input, revoked, used again.
        created = api.post("/api/v1/auth/api-keys", json={"name": "leaky", "scopes": ["*"]}, headers=admin_auth)
        assert created.status_code == 201, created.text
        api_key, key_id = created.json()["key"], created.json()["key_id"]
        assert api.get("/api/v1/auth/validate", headers={"X-Api-Key": api_key}).status_code == 200
        bad_key = {"name": "", "scopes": "everything"}
        assert api.post("/api/v1/auth/api-keys", json=bad_key, headers={"X-Api-Key": api_key}).status_code == 400
        assert api.delete(f"/api/v1/auth/api-keys/{key_id}", headers=admin_auth).status_code == 204
        assert api.get("/api/v1/auth/validate", headers={"X-Api-Key": api_key}).status_code == 401

        # The venue's credentials: a signed call that succeeds (ccxt refuses to make it without them), then one
        # the venue refuses.
        balance = api.get("/api/v1/exchange/binance/balance", headers=admin_auth)
        assert balance.status_code == 200, balance.text
        venue.faults.add("GET /api/v3/account", *["401"] * 10)
        assert api.get("/api/v1/exchange/binance/balance", headers=admin_auth).status_code >= 400

        # The Telegram bot token and the webhook key travel through the worker: a wrong token first (the Bot API
        # answers 401), then the right one; a webhook whose first delivery fails.
        send = {"channel": "telegram", "recipient": "4242", "subject": "leak check", "body": "wrong token"}
        assert api.post("/api/v1/notifications/send", json=send, headers=admin_auth).status_code == 202
        first = Notification.objects.order_by("-pk").values_list("pk", flat=True).first()
        assert processes.wait_until(lambda: Notification.objects.get(pk=first).status == "failed", timeout=90), (
            worker.log_tail()
        )
        core_api.secret_set(key=TELEGRAM_TOKEN_SECRET, value=values["telegram bot token"])
        send = {**send, "body": "right token"}
        assert api.post("/api/v1/notifications/send", json=send, headers=admin_auth).status_code == 202
        hook = {"channel": "webhook", "recipient": f"{webhook.url}/hook", "body": "signed", "priority": "high"}
        assert api.post("/api/v1/notifications/send", json=hook, headers=admin_auth).status_code == 202
        bad_send = {"channel": "telegram", "recipient": "not a chat", "body": "x"}
        assert api.post("/api/v1/notifications/send", json=bad_send, headers=admin_auth).status_code == 400

    # The web app: its login form, failed then signed in; a missing page.
    with capture.client() as browser:
        form = browser.get("/login/")
        login = {"username": "leak-trader", "csrfmiddlewaretoken": csrf_of(form.text)}
        assert browser.post("/login/", data={**login, "password": values["mistyped password"]}).status_code == 400
        signed_in = browser.post("/login/", data={**login, "password": values["trader password"]})
        assert signed_in.status_code == 302, signed_in.text[:2000]
        session = browser.cookies["sessionid"]
        assert browser.get("/no-such-page", headers={"Accept": "text/html"}).status_code == 404
        assert browser.get("/backtests/").status_code == 403  # a trader's session, without the permission

    # The admin: a failed and a good login, then every model's list page (and a few rows' change pages).
    with capture.client() as staff:
        page = staff.get("/admin/login/?next=/admin/")
        login = {"username": "leak-admin", "next": "/admin/", "csrfmiddlewaretoken": csrf_of(page.text)}
        refused = staff.post("/admin/login/?next=/admin/", data={**login, "password": values["mistyped password"]})
        assert refused.status_code == 200 and "Please enter the correct username" in refused.text
        index = staff.post("/admin/login/?next=/admin/", data={**login, "password": values["admin password"]})
        index = staff.get("/admin/")
        assert index.status_code == 200 and "Site administration" in index.text, index.text[:2000]
        capture.pages["/admin/"] = index.text
        admin_session, csrf = staff.cookies["sessionid"], staff.cookies["csrftoken"]
        lists = sorted(set(re.findall(r'href="(/admin/[a-z_]+/[a-z_]+/)"', index.text)))
        for path in lists:
            listing = staff.get(path)
            assert listing.status_code == 200, (path, listing.text[:500])
            capture.pages[path] = listing.text
            for change in sorted(set(re.findall(r'href="(/admin/[a-z_]+/[a-z_]+/\d+/change/)', listing.text)))[:3]:
                capture.pages[change] = staff.get(change).text

    # A 500 from a view that holds secrets in its frames, asked with every credential at once.
    with capture.client() as api:
        failing = api.get(
            f"/test-only/explode-holding-secrets?token={admin_access}&api_key={api_key}",
            headers={
                "Authorization": f"Bearer {admin_access}",
                "X-Api-Key": api_key,
                "Cookie": f"sessionid={admin_session}; csrftoken={csrf}",
                "Accept": "text/html",
            },
        )
        assert failing.status_code == 500 and "Traceback" in failing.text  # the detailed page, for loopback
        logout = api.post("/api/v1/auth/logout", json={"refresh_token": admin_refresh}, headers=admin_auth)
        assert logout.status_code == 204, logout.text

    assert processes.wait_until(lambda: Notification.objects.filter(status="sent").count() == 2, timeout=90), (
        worker.log_tail()
    )
    assert processes.wait_until(
        lambda: any(b"explode_holding_secrets" in body for _, body in _Collector.received), timeout=30
    )
    web.stop()
    worker.stop()

    # Everything was really exercised (so a clean search means something).
    assert {400, 401, 403, 404, 500} <= set(capture.statuses)
    assert len(lists) == len(django_admin.site._registry) >= 10, lists  # every registered model's list
    assert telegram.texts_to(4242) == ["leak check\n\nright token"]
    assert webhook.requests[-1].headers["x-dsta-signature"].startswith("sha256=")
    assert venue.count("GET", "/api/v3/account") >= 2
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"auth.login", "config.secret_read", "config.secret_set"} <= actions, actions

    def jwt(name: str, value: str) -> Planted:  # the header segment is the same in every token: not secret
        return Planted(name, value, public_prefix=value.split(".")[0] + ".")

    runtime = [
        jwt("trader's access token", access),
        Planted("trader's refresh token", refresh),
        Planted("trader's rotated refresh token", rotated.json()["refresh_token"]),
        jwt("rotated access token", rotated.json()["access_token"]),
        jwt("admin's access token", admin_access),
        Planted("admin's refresh token", admin_refresh),
        Planted("API key", api_key, public_prefix=api_key.rsplit("_", 1)[0] + "_"),
        Planted("web session cookie", session),
        Planted("admin session cookie", admin_session),
    ]
    sources: dict[str, str] = {}
    for child in (web, worker):
        sources[f"{child.name} process log"] = child.log_path.read_text(errors="replace")
    sources["secret_set command output"] = cli.stdout + cli.stderr
    sources.update({f"error response {where}": body for where, body in capture.errors.items()})
    sources.update({f"admin page {path}": html for path, html in capture.pages.items()})
    sources.update(stored_rows())
    sources.update(sentry_reports())
    assert "auth.login" in sources["rows of core.AuditEntry"]
    assert "notification_failed" in sources["worker process log"] and "http_request" in sources["web process log"]
    reports = "\n".join(text for where, text in sources.items() if where.startswith("sentry report"))
    assert "explode_holding_secrets" in reports and "postgres://[Filtered]@" in reports  # the frames, masked
    found = leaks(planted + runtime, sources)
    assert found == [], "secrets leaked:\n" + "\n".join(found)
