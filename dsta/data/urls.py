from django.urls import path

from dsta.data.views import SeriesListView

urlpatterns = [path("series", SeriesListView.as_view(), name="market-data-series")]
