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
]
