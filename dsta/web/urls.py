from django.urls import path

from dsta.web import views

app_name = "web"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("dashboard/panels", views.dashboard_panels, name="dashboard-panels"),
    path("chart/", views.chart, name="chart"),
    path("backtests/", views.backtests, name="backtests"),
    path("backtests/<uuid:job_id>/", views.backtest_detail, name="backtest-detail"),
    path("backtests/<uuid:job_id>/status", views.backtest_status, name="backtest-status"),
    path("backtests/<uuid:job_id>/report", views.backtest_report, name="backtest-report"),
    path("models/", views.ml_models, name="ml-models"),
    path("notifications/", views.notifications, name="notifications"),
    path("bots/", views.bots, name="bots"),
]
