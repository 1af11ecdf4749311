import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dsta.settings")
# The web server takes its database connections from a pool (see _domain_database in settings): Django's
# persistent connections are per thread, and ASGI runs each request's sync code on a new one.
os.environ.setdefault("DSTA_DB_POOL", "8")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from dsta.core.routing import websocket_urlpatterns as core_websockets  # noqa: E402
from dsta.data.routing import websocket_urlpatterns as data_websockets  # noqa: E402
from dsta.exchange.routing import websocket_urlpatterns as exchange_websockets  # noqa: E402

websocket_urlpatterns: list = [*core_websockets, *data_websockets, *exchange_websockets]  # each domain's routes

application = ProtocolTypeRouter(
    {"http": django_asgi_app, "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns))}
)
