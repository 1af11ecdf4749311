from django.urls import path

from dsta.data.backtesting import views

urlpatterns = [
    path("strategies", views.StrategiesView.as_view(), name="backtest-strategies"),
    path("run", views.RunView.as_view(), name="backtest-run"),
    path("optimize", views.OptimiseView.as_view(), name="backtest-optimize"),
    path("monte-carlo", views.MonteCarloView.as_view(), name="backtest-monte-carlo"),
    path("walk-forward", views.WalkForwardView.as_view(), name="backtest-walk-forward"),
    path("<uuid:job_id>/results", views.ResultsView.as_view(), name="backtest-results"),
    path("<uuid:job_id>/report", views.ReportView.as_view(), name="backtest-report"),
]
