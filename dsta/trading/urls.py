from django.urls import path

from dsta.trading import bot_views, views

urlpatterns = [
    # the bot's create (the plain one plus trading settings) shadows the next line's view, kept for the merge
    path("strategies", bot_views.StrategyCreateView.as_view(), name="strategies"),
    path("strategies", views.StrategyListView.as_view(), name="strategies"),
    path("strategies/<int:instance_id>", views.StrategyDetailView.as_view(), name="strategy-detail"),
    path("strategies/<int:instance_id>/parameters", views.StrategyParametersView.as_view(), name="strategy-parameters"),
    path("strategies/<int:instance_id>/signals", views.StrategySignalsView.as_view(), name="strategy-signals"),
    path("strategies/<int:instance_id>/start", bot_views.BotStartView.as_view(), name="strategy-start"),
    path("strategies/<int:instance_id>/pause", bot_views.BotPauseView.as_view(), name="strategy-pause"),
    path("strategies/<int:instance_id>/stop", bot_views.BotStopView.as_view(), name="strategy-stop"),
    path("strategies/<int:instance_id>/arm", bot_views.BotArmView.as_view(), name="strategy-arm"),
    path("strategies/<int:instance_id>/disarm", bot_views.BotDisarmView.as_view(), name="strategy-disarm"),
    path(
        "strategies/<int:instance_id>/performance", bot_views.BotPerformanceView.as_view(), name="strategy-performance"
    ),
    path("strategies/<int:instance_id>/parity", bot_views.BotParityView.as_view(), name="strategy-parity"),
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
