from django.urls import path

from dsta.core.consumers import ConfigWatchConsumer

websocket_urlpatterns = [path("api/v1/config/watch", ConfigWatchConsumer.as_asgi())]
