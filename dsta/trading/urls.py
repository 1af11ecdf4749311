from django.urls import path

from dsta.trading import views

urlpatterns = [
    path("strategies", views.StrategyListView.as_view(), name="strategies"),
    path("strategies/<int:instance_id>", views.StrategyDetailView.as_view(), name="strategy-detail"),
    path("strategies/<int:instance_id>/parameters", views.StrategyParametersView.as_view(), name="strategy-parameters"),
    path("strategies/<int:instance_id>/signals", views.StrategySignalsView.as_view(), name="strategy-signals"),
    path("risk/limits", views.RiskLimitsView.as_view(), name="risk-limits"),
    path("risk/circuit-breaker", views.CircuitBreakerView.as_view(), name="risk-circuit-breaker"),
    path("risk/violations", views.RiskViolationsView.as_view(), name="risk-violations"),
    path("risk/check", views.RiskCheckView.as_view(), name="risk-check"),
    path("orders", views.OrdersView.as_view(), name="orders"),
    path("orders/active", views.ActiveOrdersView.as_view(), name="orders-active"),
    path("orders/<int:order_id>", views.OrderDetailView.as_view(), name="order-detail"),
    path("orders/<int:order_id>/cancel", views.OrderCancelView.as_view(), name="order-cancel"),
    path("fills", views.FillsView.as_view(), name="fills"),
    path("positions", views.PositionsView.as_view(), name="positions"),
    path("positions/reconcile", views.PositionsReconcileView.as_view(), name="positions-reconcile"),
    path("positions/<str:symbol>", views.PositionDetailView.as_view(), name="position-detail"),
    path("positions/<str:symbol>/stops", views.PositionStopsView.as_view(), name="position-stops"),
    path(
        "positions/<str:symbol>/stops/<int:stop_id>/cancel",
        views.PositionStopCancelView.as_view(),
        name="position-stop-cancel",
    ),
    path("portfolio/pnl", views.PortfolioPnlView.as_view(), name="portfolio-pnl"),
]
