from django.urls import path

from dsta.exchange.consumers import ExchangeStreamConsumer

websocket_urlpatterns = [
    path("api/v1/exchange/<str:name>/stream", ExchangeStreamConsumer.as_asgi()),
]
