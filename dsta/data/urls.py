from django.urls import path

from dsta.data import views

urlpatterns = [
    path("series", views.SeriesListView.as_view(), name="market-data-series"),
    path("ohlcv/<str:symbol>", views.OhlcvView.as_view(), name="market-data-ohlcv"),
    path("orderbook/<str:symbol>", views.OrderBookView.as_view(), name="market-data-orderbook"),
    path("ticker/<str:symbol>", views.TickerView.as_view(), name="market-data-ticker"),
    path("gaps", views.GapsView.as_view(), name="market-data-gaps"),
    path("gaps/fill", views.GapFillView.as_view(), name="market-data-gaps-fill"),
    path("quality", views.QualityView.as_view(), name="market-data-quality"),
    path("sync", views.SyncView.as_view(), name="market-data-sync"),
    path("sync/<uuid:job_id>", views.SyncJobView.as_view(), name="market-data-sync-job"),
]

analytics_urlpatterns = [
    path("performance", views.PerformanceView.as_view(), name="analytics-performance"),
    path("equity-curve", views.EquityCurveView.as_view(), name="analytics-equity-curve"),
    path("sharpe", views.SharpeView.as_view(), name="analytics-sharpe"),
    path("correlation", views.CorrelationView.as_view(), name="analytics-correlation"),
    path("reports/generate", views.ReportGenerateView.as_view(), name="analytics-report-generate"),
    path("reports/<uuid:report_id>", views.ReportView.as_view(), name="analytics-report"),
    path("reports/<uuid:report_id>/html", views.ReportHtmlView.as_view(), name="analytics-report-html"),
]
