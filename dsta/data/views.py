from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dsta.data import selectors
from dsta.data.serializers import SeriesSummarySerializer


class SeriesListView(APIView):
    required_permission = "market_data.read"

    @extend_schema(responses=SeriesSummarySerializer(many=True))
    def get(self, request: Request) -> Response:
        series = [asdict(summary) for summary in selectors.series_list()]
        return Response(SeriesSummarySerializer(series, many=True).data)
