from django.urls import path

from dsta.data.consumers import CandleStreamConsumer

websocket_urlpatterns = [path("api/v1/market-data/stream/<str:symbol>", CandleStreamConsumer.as_asgi())]
