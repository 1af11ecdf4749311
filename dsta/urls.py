from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from dsta.asyncapi import AsyncApiView
from dsta.core.drf import ApiDocsPermission
from dsta.data.urls import analytics_urlpatterns
from dsta.health import healthz, readyz
from dsta.observability.views import metrics

handler500 = "dsta.unavailable.server_error"  # a middleware that cannot reach the database answers 503

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/asyncapi.json", AsyncApiView.as_view(permission_classes=[ApiDocsPermission]), name="asyncapi"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: the Content-Security-Policy allows no inline script.
    path("api/schema/swagger-ui/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/v1/market-data/", include("dsta.data.urls")),
    path("api/v1/backtest/", include("dsta.data.backtesting.urls")),
    path("api/v1/", include("dsta.trading.urls")),
    path("api/v1/", include("dsta.core.urls")),
    path("api/v1/analytics/", include((analytics_urlpatterns, "analytics"), namespace=None)),
    path("api/v1/exchange/", include("dsta.exchange.urls")),
    path("api/v1/ml/", include("dsta.ml.urls")),
    path("", include("dsta.web.urls")),  # the web app: dashboard at /, /login/, /chart/, /backtests/ ...
]
