import os
import sys

from a2wsgi import WSGIMiddleware
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dsta.settings")
# HTTP threads of this process: each request's whole sync stack runs on one of them. Requests are short database
# work (heavy jobs go to the worker); more threads than this only contend for the GIL (at 100 orders/s on two
# cores, 8 threads per process had a p99 several times that of 4).
HTTP_THREADS = int(os.environ.get("DSTA_HTTP_THREADS", "4"))
# The event loop answers /healthz and sheds load (dsta/admission.py) while those threads hold the GIL. Python hands
# the GIL over every 5 ms; at 1 ms the loop gets in sooner (bench/order_load.py --storm: /healthz p99 about
# 140-330 ms at 5 ms, 35-160 ms at 1 ms, on two loaded cores), at no throughput cost measurable here.
sys.setswitchinterval(float(os.environ.get("DSTA_HTTP_GIL_SWITCH_MS", "1")) / 1000)
# The web server takes its database connections from a pool (see _domain_database in settings), as many as there
# are HTTP threads: a request never waits for a connection another thread holds.
os.environ.setdefault("DSTA_DB_POOL", str(HTTP_THREADS))
from dsta.kernel.installation_keys import settings_or_exit  # noqa: E402  (after the pool setting it reads)

settings_or_exit()  # missing or weak keys: their message and exit 1, not a traceback

# Every view and middleware is synchronous, so HTTP goes to Django's WSGI handler on a fixed thread pool: one hop
# per request. Django's ASGI handler hops between the event loop and a thread for each sync middleware (about a
# dozen times per request), which cost about 3 ms of CPU per request, ten times the request itself.
django_http_app = WSGIMiddleware(get_wsgi_application(), workers=HTTP_THREADS)

from dsta.admission import BoundedAdmission  # noqa: E402

# At most this many requests wait for a thread; one more is answered 503 with Retry-After (dsta/admission.py).
HTTP_QUEUE = int(os.environ.get("DSTA_HTTP_QUEUE", str(4 * HTTP_THREADS)))
admitted_http_app = BoundedAdmission(django_http_app, limit=HTTP_THREADS + HTTP_QUEUE)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from dsta.core.routing import websocket_urlpatterns as core_websockets  # noqa: E402
from dsta.data.routing import websocket_urlpatterns as data_websockets  # noqa: E402
from dsta.exchange.routing import websocket_urlpatterns as exchange_websockets  # noqa: E402

websocket_urlpatterns: list = [*core_websockets, *data_websockets, *exchange_websockets]  # each domain's routes

from django.urls import re_path  # noqa: E402

from dsta.core.websocket_guard import AllowedOrigins, WebSocketGuard, not_found  # noqa: E402

# Around every WebSocket route: Origin check, session, then the guard (credentials re-checked while the socket
# lives, bad frames answered); an unknown path ends at `not_found` (404) instead of the router's exception.
websocket_app = AllowedOrigins(
    AuthMiddlewareStack(WebSocketGuard(URLRouter([*websocket_urlpatterns, re_path(r"", not_found)])))
)
application = ProtocolTypeRouter({"http": admitted_http_app, "websocket": websocket_app})

from django.conf import settings  # noqa: E402
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware  # noqa: E402

if settings.DSTA_TRUSTED_PROXIES:  # X-Forwarded-For/-Proto only from these peers (servers run --no-proxy-headers)
    application = ProxyHeadersMiddleware(application, trusted_hosts=settings.DSTA_TRUSTED_PROXIES)

import gc  # noqa: E402

# Everything loaded so far (Django, the domains, ccxt's and the ORM's caches) lives as long as the process: kept
# out of the collector's full passes, which otherwise walk it all and stall every thread, /healthz included.
gc.collect()
gc.freeze()
