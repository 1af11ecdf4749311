"""Project wiring. Every runtime choice comes from the environment so one image runs everywhere.

DATABASE_URL is the admin connection (owner of the database, used only by `bootstrap_db`); each domain
connects through its own alias as its own role, derived from it unless DATABASE_URL_<DOMAIN> overrides it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dj_database_url

from dsta.domains import DOMAINS
from dsta.kernel import embedded_services, installation_keys

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("DSTA_STATE_DIR", BASE_DIR / ".dsta"))
# Where torch models train and predict: auto (CUDA when available, else CPU), cpu or cuda.
ML_DEVICE = os.environ.get("DSTA_ML_DEVICE", "auto")

# The embedded services `./dev up` starts, with the passwords it generated (dsta/kernel/embedded_services.py).
_EMBEDDED_PASSWORDS = embedded_services.passwords(STATE_DIR, domains=tuple(d.name for d in DOMAINS), create=False)
_EMBEDDED_PG_USER = f"postgres:{_EMBEDDED_PASSWORDS['postgres']}" if "postgres" in _EMBEDDED_PASSWORDS else "postgres"
EMBEDDED_DATABASE_URL = f"postgres://{_EMBEDDED_PG_USER}@127.0.0.1:55432/dsta"
_EMBEDDED_REDIS_AUTH = f":{_EMBEDDED_PASSWORDS['redis']}@" if "redis" in _EMBEDDED_PASSWORDS else ""
EMBEDDED_REDIS_URL = f"redis://{_EMBEDDED_REDIS_AUTH}127.0.0.1:56379/0"

DEBUG = os.environ.get("DSTA_DEBUG", "1") == "1"
# Development conveniences (derived keys, ...) follow this, not DEBUG, which Django turns off under tests.
DEV_MODE = DEBUG
# Random per installation (.dsta/keys.json, 0600) unless the environment sets them; DSTA_DEBUG=0 never creates them.
INSTALLATION_KEYS = installation_keys.load(state_dir=STATE_DIR, environ=os.environ, development=DEBUG)
SECRET_KEY = INSTALLATION_KEYS.secret_key
ALLOWED_HOSTS = os.environ.get("DSTA_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")

# Browser hardening. The CSP and nosniff hold in every mode (they break nothing over plain http); HSTS, the
# redirect to https and secure-only cookies only with DSTA_DEBUG=0, where TLS is expected (a debug start on
# http://127.0.0.1 would otherwise lose its session cookie). DSTA_HSTS_SECONDS=0 / DSTA_SSL_REDIRECT=0 /
# DSTA_SECURE_COOKIES=0 for a plain-http deployment.
# Pages load only their own scripts: no inline script or handler, no eval; inline styles (admin, Swagger UI)
# cannot run code. 'self' covers ws:// and wss:// to the same host (the live chart). frame-ancestors follows each
# response's X-Frame-Options (dsta/security_headers.py). DSTA_CSP="" turns the header off.
DSTA_CSP = os.environ.get(
    "DSTA_CSP",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
    " font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'",
)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_HSTS_SECONDS = int(os.environ.get("DSTA_HSTS_SECONDS", "0" if DEBUG else str(365 * 24 * 3600)))
# HSTS covers every subdomain and may be preloaded into browsers: DSTA_HSTS_INCLUDE_SUBDOMAINS=0 /
# DSTA_HSTS_PRELOAD=0 where a subdomain is still served over plain http (preloading is hard to undo).
SECURE_HSTS_INCLUDE_SUBDOMAINS = os.environ.get("DSTA_HSTS_INCLUDE_SUBDOMAINS", "0" if DEBUG else "1") == "1"
SECURE_HSTS_PRELOAD = os.environ.get("DSTA_HSTS_PRELOAD", "0" if DEBUG else "1") == "1"
# Plain http is redirected to https, except the probes: load balancers, container health checks and Prometheus
# call them over plain http inside the deployment. DSTA_SSL_REDIRECT=0 where a proxy in front redirects itself.
SECURE_SSL_REDIRECT = os.environ.get("DSTA_SSL_REDIRECT", "0" if DEBUG else "1") == "1"
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]


# Behind a proxy that ends TLS, the header it sets on requests that came over https, as `Name: value` (e.g.
# `X-Forwarded-Proto: https`; the value defaults to https). Only behind a proxy that sets that header on every
# request, replacing one a client sent: else a client could pass for https. Unset: only TLS to this process is.
def _proxy_ssl_header(setting: str) -> tuple[str, str] | None:
    name, _, value = setting.partition(":")
    if not name.strip():
        return None
    return "HTTP_" + name.strip().upper().replace("-", "_"), value.strip() or "https"


SECURE_PROXY_SSL_HEADER = _proxy_ssl_header(os.environ.get("DSTA_PROXY_SSL_HEADER", ""))
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = os.environ.get("DSTA_SECURE_COOKIES", "0" if DEBUG else "1") == "1"
SESSION_COOKIE_HTTPONLY = True
# The OpenAPI schema, Swagger UI and the AsyncAPI document: public in debug, for signed-in callers otherwise.
DSTA_API_DOCS_PUBLIC = os.environ.get("DSTA_API_DOCS_PUBLIC", "1" if DEBUG else "0") == "1"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "dsta.kernel",
    "dsta.core",
    "dsta.exchange",
    "dsta.data",
    "dsta.trading",
    "dsta.ml",
    "dsta.web",  # the server-rendered web app: a presentation layer over the facades, no models
    "dsta.observability",
]

MIDDLEWARE = [
    "dsta.observability.middleware.request_observability",  # first: request id, log context, metrics, span
    "dsta.kernel.error_reports.plain_debug_404",  # DEBUG's 404 page (every URL pattern) for loopback clients only
    "dsta.core.middleware.reject_malformed_input",  # NUL bytes in path, query or form: 400 for every route
    "django.middleware.security.SecurityMiddleware",
    "dsta.security_headers.content_security_policy",  # CSP on every response (dsta/security_headers.py)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "dsta.unavailable.DatabaseUnavailableMiddleware",  # last: first to see a view's exception (dsta/unavailable.py)
]

ROOT_URLCONF = "dsta.urls"
# Error pages and reports mask credentials, connection strings, paths and the ASGI scope's headers, in DEBUG too;
# DEBUG's detailed 500 page is for clients on 127.0.0.1/::1 only (dsta/kernel/error_reports.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "dsta.kernel.error_reports.SecretsFilter"
DEFAULT_EXCEPTION_REPORTER = "dsta.kernel.error_reports.LocalOnlyExceptionReporter"
LOGIN_URL = "/login/"
WSGI_APPLICATION = "dsta.wsgi.application"
ASGI_APPLICATION = "dsta.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _domain_database(admin_url: str, domain_name: str, role: str, schema: str) -> dict[str, Any]:
    override = os.environ.get(f"DATABASE_URL_{domain_name.upper()}")
    config: dict[str, Any]
    if override:
        config = dict(dj_database_url.parse(override))
    else:
        parts = urlsplit(admin_url)
        # On the embedded default (no DATABASE_URL), each role's password is the one `./dev up` generated.
        embedded = (
            "" if "DATABASE_URL" in os.environ else _EMBEDDED_PASSWORDS.get(embedded_services.role_key(domain_name), "")
        )
        password = os.environ.get(f"DSTA_DB_PASSWORD_{domain_name.upper()}", embedded)
        credentials = f"{role}:{password}" if password else role
        host = parts.hostname or ""
        netloc = f"{credentials}@{host}" + (f":{parts.port}" if parts.port else "")
        config = dict(dj_database_url.parse(urlunsplit(parts._replace(netloc=netloc))))
    config["ENGINE"] = "django.db.backends.postgresql"
    # The role's own search_path is the source of truth; the option pins it for poolers that reset sessions.
    config["OPTIONS"] = {
        "options": f"-c search_path={schema}",
        # Parameters travel apart from the SQL (no quoting in Python) and a statement run a few times on a
        # connection is prepared: Postgres stops parsing and planning the hot paths' queries on every call
        # (planning the pre-trade snapshot cost more than running it). DSTA_DB_PREPARE_THRESHOLD=0 turns
        # preparing off, for a transaction-mode pooler that cannot keep prepared statements.
        "server_side_binding": True,
        "prepare_threshold": int(os.environ.get("DSTA_DB_PREPARE_THRESHOLD", "2")) or None,
    }
    pool_size = int(os.environ.get("DSTA_DB_POOL", "0"))
    if pool_size:
        # The web server bounds its connections per alias and process by a pool (dsta/asgi.py turns it on):
        # a connection goes back after each request, so idle threads hold none.
        config["OPTIONS"]["pool"] = {"min_size": 1, "max_size": pool_size, "timeout": 10}
        config["CONN_MAX_AGE"] = 0  # the pool keeps them
    else:
        config["CONN_MAX_AGE"] = int(os.environ.get("DSTA_CONN_MAX_AGE", "60"))
        config["CONN_HEALTH_CHECKS"] = True
    config["TEST"] = {"NAME": None}
    return config


ADMIN_DATABASE_URL = os.environ.get("DATABASE_URL", EMBEDDED_DATABASE_URL)
DATABASES = {
    domain.alias: _domain_database(ADMIN_DATABASE_URL, domain.name, domain.role, domain.schema) for domain in DOMAINS
}
# A domain served on its own (`manage.py serve_domain DOMAIN`, which sets DSTA_SERVED_DOMAIN) has its own alias
# only: a query that strays into another domain fails instead of reaching the monolith's database.
SERVED_DOMAIN = os.environ.get("DSTA_SERVED_DOMAIN", "")
if SERVED_DOMAIN:
    _served_alias = next(domain.alias for domain in DOMAINS if domain.name == SERVED_DOMAIN)
    DATABASES = {"default": {"ENGINE": "django.db.backends.dummy"}, _served_alias: DATABASES[_served_alias]}
DATABASE_ROUTERS = ["dsta.kernel.router.DomainRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", EMBEDDED_REDIS_URL)

# Fernet keys for secrets at rest, newest first (see dsta/core/crypto.py).
DSTA_FERNET_KEYS = list(INSTALLATION_KEYS.fernet_keys)

# Dramatiq: Redis by default, RabbitMQ (the plan's broker) by DSTA_BROKER=rabbitmq.
DSTA_BROKER = os.environ.get("DSTA_BROKER", "redis")
RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
# A worker that stops heart-beating this long is presumed dead and its unacked messages are requeued.
BROKER_HEARTBEAT_MS = int(os.environ.get("DSTA_BROKER_HEARTBEAT_MS", "60000"))
BROKER_MAINTENANCE_CHANCE = int(os.environ.get("DSTA_BROKER_MAINTENANCE_CHANCE", "1000"))  # per million commands
# Retry-After of the 503 answered while the database cannot be reached (dsta/unavailable.py).
DSTA_UNAVAILABLE_RETRY_AFTER_SECONDS = int(os.environ.get("DSTA_UNAVAILABLE_RETRY_AFTER_SECONDS", "5"))
# How often a worker's consumer requeues the unacked messages it no longer holds (kernel/broker_redis.py).
BROKER_RECONCILE_SECONDS = float(os.environ.get("DSTA_BROKER_RECONCILE_SECONDS", "30"))
# How long a worker waits for the broker to come back to enqueue a failed message's retry (kernel/broker.py).
BROKER_RETRY_ENQUEUE_PATIENCE_SECONDS = float(os.environ.get("DSTA_BROKER_RETRY_ENQUEUE_PATIENCE_SECONDS", "60"))

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    }
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
    }
}

# Outbox relay tuning.
OUTBOX_BATCH_SIZE = int(os.environ.get("DSTA_OUTBOX_BATCH_SIZE", "500"))
OUTBOX_LEASE_SECONDS = float(os.environ.get("DSTA_OUTBOX_LEASE_SECONDS", "30"))
OUTBOX_MAX_ATTEMPTS = int(os.environ.get("DSTA_OUTBOX_MAX_ATTEMPTS", "10"))
OUTBOX_POLL_SECONDS = float(os.environ.get("DSTA_OUTBOX_POLL_SECONDS", "1.0"))
# A relay batch goes to each consuming domain as up to this many messages, split by aggregate key, so that as
# many worker processes can work on one batch at once (a candle close of many markets); keep it at least the
# number of worker processes that take a domain's queue. 1: one message per batch (per 250 events).
OUTBOX_PARTITIONS = int(os.environ.get("DSTA_OUTBOX_PARTITIONS", "4"))

# Periodic jobs `manage.py run_scheduler` sends: (dramatiq actor name, every N seconds). Any number of
# schedulers may run; a Redis key per job and tick lets exactly one of them send it.
DSTA_SCHEDULE = [
    ("resume_orders", int(os.environ.get("DSTA_SCHEDULE_RESUME_ORDERS_SECONDS", "30"))),
    ("snapshot_pnl", int(os.environ.get("DSTA_SCHEDULE_SNAPSHOT_PNL_SECONDS", "60"))),
    ("sync_fills", int(os.environ.get("DSTA_SCHEDULE_SYNC_FILLS_SECONDS", "30"))),
    ("publish_market_subscriptions", int(os.environ.get("DSTA_SCHEDULE_MARKET_SUBSCRIPTIONS_SECONDS", "60"))),
    # the live market-data feed's tick (seconds, fractions allowed: a fast-clock venue needs 0.05)
    ("market_data_tick", float(os.environ.get("DSTA_SCHEDULE_MARKET_DATA_SECONDS", "1"))),
    # Telegram bot commands (getUpdates); does nothing until config `telegram.chat_ids` links a chat
    ("telegram_poll", float(os.environ.get("DSTA_SCHEDULE_TELEGRAM_POLL_SECONDS", "3"))),
    # notifications whose delivery message was lost (core/notifications.py: stranded_resend)
    ("resend_stranded_notifications", int(os.environ.get("DSTA_SCHEDULE_STRANDED_NOTIFICATIONS_SECONDS", "60"))),
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = STATE_DIR / "static"
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "dsta.core.schema.ScopedAutoSchema",  # drf-spectacular's, with each API-key scope
    # Core's auth for every domain: JWT first (so an anonymous call gets 401 with a Bearer challenge).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "dsta.core.drf.JWTAuthentication",
        "dsta.core.drf.ApiKeyAuthentication",
        "dsta.core.drf.SessionPrincipalAuthentication",
    ],
    # One RBAC class: each view declares `required_permission` (see dsta/core/drf.py); undeclared = refused.
    "DEFAULT_PERMISSION_CLASSES": ["dsta.core.drf.RBACPermission"],
    # Per user and per API key, over the rate: 429 with Retry-After (dsta/kernel/throttles.py).
    "DEFAULT_THROTTLE_CLASSES": [
        "dsta.kernel.throttles.PerUserRateThrottle",
        "dsta.kernel.throttles.PerApiKeyRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "dsta_user": os.environ.get("DSTA_THROTTLE_USER_RATE", "200/s"),
        "dsta_api_key": os.environ.get("DSTA_THROTTLE_API_KEY_RATE", "100/s"),
    },
    # One JSON parser for every endpoint: bounded nesting, no NUL characters (400, never a 500).
    "DEFAULT_PARSER_CLASSES": [
        "dsta.core.drf.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # One handler: input the database refuses is a 400; a served domain that cannot be reached is a 503 with
    # Retry-After (dsta/kernel/rpc/drf.py); the rest is DRF's.
    "EXCEPTION_HANDLER": "dsta.core.drf.exception_handler",
}

# Auth (dsta/core/auth.py).
DSTA_JWT_SIGNING_KEY = INSTALLATION_KEYS.jwt_signing_key
DSTA_JWT_ISSUER = "dsta"
DSTA_JWT_ACCESS_TTL_SECONDS = int(os.environ.get("DSTA_JWT_ACCESS_TTL_SECONDS", "300"))
DSTA_JWT_REFRESH_TTL_SECONDS = int(os.environ.get("DSTA_JWT_REFRESH_TTL_SECONDS", str(14 * 24 * 3600)))
DSTA_LOGIN_MAX_FAILURES = int(os.environ.get("DSTA_LOGIN_MAX_FAILURES", "5"))
DSTA_LOGIN_FAILURE_WINDOW_SECONDS = int(os.environ.get("DSTA_LOGIN_FAILURE_WINDOW_SECONDS", "900"))
DSTA_LOGIN_LOCKOUT_SECONDS = int(os.environ.get("DSTA_LOGIN_LOCKOUT_SECONDS", "900"))
DSTA_LOGIN_IP_ATTEMPTS_PER_MINUTE = int(os.environ.get("DSTA_LOGIN_IP_ATTEMPTS_PER_MINUTE", "30"))
# Lockout is per (account, address) and grows from the base to DSTA_LOGIN_LOCKOUT_SECONDS; past the account-wide
# ceiling every address is slowed to one try per DSTA_LOGIN_SLOW_SECONDS (dsta/core/login_guard.py).
DSTA_LOGIN_LOCKOUT_BASE_SECONDS = int(os.environ.get("DSTA_LOGIN_LOCKOUT_BASE_SECONDS", "30"))
DSTA_LOGIN_ACCOUNT_CEILING = int(os.environ.get("DSTA_LOGIN_ACCOUNT_CEILING", "50"))
DSTA_LOGIN_SLOW_SECONDS = int(os.environ.get("DSTA_LOGIN_SLOW_SECONDS", "5"))
# Addresses of reverse proxies whose X-Forwarded-For names the client (comma-separated); none by default.
DSTA_TRUSTED_PROXIES = [entry for entry in os.environ.get("DSTA_TRUSTED_PROXIES", "").split(",") if entry.strip()]

# Notifications (dsta/core/notifications.py). The Telegram bot token and webhook signing key are secrets
# (core/telegram/bot_token, core/webhook/signing_key); the variables below are fallbacks.
DSTA_TELEGRAM_API_URL = os.environ.get("DSTA_TELEGRAM_API_URL", "https://api.telegram.org")
DSTA_TELEGRAM_BOT_TOKEN = os.environ.get("DSTA_TELEGRAM_BOT_TOKEN", "")
DSTA_WEBHOOK_SIGNING_KEY = os.environ.get("DSTA_WEBHOOK_SIGNING_KEY", "")
DSTA_NOTIFY_DEDUP_SECONDS = int(os.environ.get("DSTA_NOTIFY_DEDUP_SECONDS", "300"))
DSTA_NOTIFY_RATE_PER_MINUTE = int(os.environ.get("DSTA_NOTIFY_RATE_PER_MINUTE", "20"))
DSTA_NOTIFY_MAX_ATTEMPTS = int(os.environ.get("DSTA_NOTIFY_MAX_ATTEMPTS", "5"))
DSTA_NOTIFY_BACKOFF_SECONDS = float(os.environ.get("DSTA_NOTIFY_BACKOFF_SECONDS", "1"))
# A notification claimed this long ago by a worker that never finished (crashed) may be claimed again.
DSTA_NOTIFY_CLAIM_SECONDS = int(os.environ.get("DSTA_NOTIFY_CLAIM_SECONDS", "600"))
# A notification still `queued` this long after it was accepted lost its message: the scheduler queues it again.
DSTA_NOTIFY_STRANDED_SECONDS = int(os.environ.get("DSTA_NOTIFY_STRANDED_SECONDS", "120"))
# Outbound calls to URLs users set (dsta/kernel/outbound.py) reach public addresses only, plus these hosts,
# host:port pairs or networks.
DSTA_OUTBOUND_ALLOWLIST = [entry for entry in os.environ.get("DSTA_OUTBOUND_ALLOWLIST", "").split(",") if entry]
DSTA_NOTIFY_HTTP_TIMEOUT_SECONDS = float(os.environ.get("DSTA_NOTIFY_HTTP_TIMEOUT_SECONDS", "10"))
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = os.environ.get("DSTA_SMTP_HOST", "127.0.0.1")
EMAIL_PORT = int(os.environ.get("DSTA_SMTP_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("DSTA_SMTP_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("DSTA_SMTP_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("DSTA_SMTP_TLS", "0") == "1"
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = os.environ.get("DSTA_MAIL_FROM", "dsta@localhost")
SPECTACULAR_SETTINGS = {
    "TITLE": "DSTA API",
    "DESCRIPTION": "Dr. Strange Trading Analysis: market data, backtesting, trading, ML.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI assets are served from this process: no CDN is needed (or reachable) to read the docs.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["dsta.core.drf.ApiDocsPermission"],
    # Named after what they are: several responses carry a `status` of their own choice set.
    "ENUM_NAME_OVERRIDES": {"BacktestStatusEnum": "dsta.data.backtesting.serializers.BACKTEST_STATUSES"},
}

# Several domains own a table called `outbox`/`inbox`, each in its own schema: the router keeps them apart.
# Django's models.W035 can only ask to verify that; kernel.E001 (dsta/kernel/checks.py) verifies it, per table.
SILENCED_SYSTEM_CHECKS = ["models.W035"]

LOG_LEVEL = os.environ.get("DSTA_LOG_LEVEL", "INFO")
LOG_JSON = os.environ.get("DSTA_LOG_JSON", "0" if DEBUG else "1") == "1"

from dsta.kernel.logging import configure_logging  # noqa: E402

LOGGING_CONFIG = None
configure_logging(level=LOG_LEVEL, json=LOG_JSON)

SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
if SENTRY_DSN:
    from dsta.kernel.telemetry import init_sentry  # noqa: E402

    init_sentry(
        dsn=SENTRY_DSN,
        traces_sample_rate=float(os.environ.get("SENTRY_TRACES_RATE", "0")),
        environment=os.environ.get("SENTRY_ENVIRONMENT") or None,
    )

# Observability (dsta/observability): /metrics access, heartbeats, access log, tracing exporter.
DSTA_METRICS_ALLOWED_IPS = os.environ.get("DSTA_METRICS_ALLOWED_IPS", "127.0.0.1,::1")
DSTA_METRICS_TOKEN = os.environ.get("DSTA_METRICS_TOKEN", "")
# Worker and relay serve their own metrics on this port when they run apart from the web (0: off).
DSTA_METRICS_PORT = int(os.environ.get("DSTA_METRICS_PORT", "0"))
DSTA_METRICS_ADDR = os.environ.get("DSTA_METRICS_ADDR", "127.0.0.1")
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # prometheus_client's multiprocess mode (see README)
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
DSTA_HEARTBEAT_SECONDS = float(os.environ.get("DSTA_HEARTBEAT_SECONDS", "5"))
DSTA_HEARTBEAT_STALE_SECONDS = float(os.environ.get("DSTA_HEARTBEAT_STALE_SECONDS", "30"))
DSTA_ACCESS_LOG = os.environ.get("DSTA_ACCESS_LOG", "1") == "1"
DSTA_OTEL_EXPORTER = os.environ.get("DSTA_OTEL_EXPORTER", "none")
DSTA_OTEL_SERVICE_NAME = os.environ.get("OTEL_SERVICE_NAME", "dsta")

# Market data (data domain): where sync and gap filling fetch bars (`exchange`, or `csv:<directory>` to replay
# exchange-downloaded files), and where rendered reports are stored (filesystem unless S3 is configured).
DSTA_CANDLE_SOURCE = os.environ.get("DSTA_CANDLE_SOURCE", "exchange")
DSTA_SYNC_PAGE_SIZE = int(os.environ.get("DSTA_SYNC_PAGE_SIZE", "1000"))
# Live feed: bars fetched for a tracked market with no stored history; the markets' clock ("system", or
# "scaled:<origin_ms>:<wall_start_ms>:<speed>" for a fast-clock venue, see dsta/kernel/clock.py).
DSTA_LIVE_INITIAL_BARS = int(os.environ.get("DSTA_LIVE_INITIAL_BARS", "500"))
DSTA_MARKET_CLOCK = os.environ.get("DSTA_MARKET_CLOCK", "system")
# The venue whose stored candles drive the paper venue's prices.
DSTA_PAPER_REFERENCE_VENUE = os.environ.get("DSTA_PAPER_REFERENCE_VENUE", "binance")
if os.environ.get("DSTA_REPORTS_S3_BUCKET"):
    STORAGES["reports"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ["DSTA_REPORTS_S3_BUCKET"],
            "endpoint_url": os.environ.get("DSTA_REPORTS_S3_ENDPOINT_URL"),
            "access_key": os.environ.get("DSTA_REPORTS_S3_ACCESS_KEY_ID"),
            "secret_key": os.environ.get("DSTA_REPORTS_S3_SECRET_ACCESS_KEY"),
            "region_name": os.environ.get("DSTA_REPORTS_S3_REGION"),
            "location": os.environ.get("DSTA_REPORTS_S3_PREFIX", "reports"),
        },
    }
else:
    STORAGES["reports"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(STATE_DIR / "reports")},
    }
