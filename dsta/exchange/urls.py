from django.urls import path

from dsta.exchange import views

urlpatterns = [
    path("health", views.HealthView.as_view(), name="exchange-health"),
    path("<str:name>/status", views.StatusView.as_view(), name="exchange-status"),
    path("<str:name>/order", views.OrderSubmitView.as_view(), name="exchange-order-submit"),
    path("<str:name>/order/<str:client_order_id>", views.OrderDetailView.as_view(), name="exchange-order"),
    path("<str:name>/cancel", views.CancelView.as_view(), name="exchange-cancel"),
    path("<str:name>/batch-cancel", views.BatchCancelView.as_view(), name="exchange-batch-cancel"),
    path("<str:name>/balance", views.BalanceView.as_view(), name="exchange-balance"),
    path("<str:name>/account", views.AccountView.as_view(), name="exchange-account"),
    path("<str:name>/ticker/<str:symbol>", views.TickerView.as_view(), name="exchange-ticker"),
    path("<str:name>/orderbook/<str:symbol>", views.OrderBookView.as_view(), name="exchange-orderbook"),
]
