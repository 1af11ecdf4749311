"""Market data and analytics endpoints (/api/v1/market-data/..., /api/v1/analytics/...)."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from django.core.files.storage import storages
from django.http import FileResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers as drf_serializers
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dsta.data import actors, selectors, services, sources
from dsta.data.consumers import symbol_from_path
from dsta.data.serializers import (
    CandleSerializer,
    CorrelationMatrixSerializer,
    CorrelationQuerySerializer,
    EquityCurveQuerySerializer,
    EquityPointSerializer,
    GapFillRequestSerializer,
    GapsFilledSerializer,
    GapsSerializer,
    IngestionJobSerializer,
    OhlcvQuerySerializer,
    OrderBookSerializer,
    PerformanceMetricsSerializer,
    PerformanceQuerySerializer,
    QualityQuerySerializer,
    QualityReportSerializer,
    RangeQuerySerializer,
    ReportAcceptedSerializer,
    ReportInfoSerializer,
    ReportRequestSerializer,
    SeriesSummarySerializer,
    SharpeQuerySerializer,
    SharpeSerializer,
    SyncRequestSerializer,
    TickerSerializer,
    VenueQuerySerializer,
)


def _query(serializer_class: type[drf_serializers.Serializer], request: Request, **extra: Any) -> dict[str, Any]:
    serializer = serializer_class(data={**request.query_params.dict(), **extra})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _body(serializer_class: type[drf_serializers.Serializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _finite(value: Any) -> Any:
    """JSON has no Infinity/NaN: an unbounded ratio (no losses, no drawdown) is reported as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json(contract: Any) -> dict[str, Any]:
    return {key: _finite(value) for key, value in asdict(contract).items()}


def _analysis(call: Any) -> Any:
    try:
        return call()
    except selectors.NotEnoughData as exc:
        raise ValidationError({"detail": str(exc)}) from exc


class SeriesListView(APIView):
    required_permission = "market_data.read"

    @extend_schema(responses=SeriesSummarySerializer(many=True))
    def get(self, request: Request) -> Response:
        series = [asdict(summary) for summary in selectors.series_list()]
        return Response(SeriesSummarySerializer(series, many=True).data)


class OhlcvView(APIView):
    required_permission = "market_data.read"

    @extend_schema(parameters=[OhlcvQuerySerializer], responses=CandleSerializer(many=True))
    def get(self, request: Request, symbol: str) -> Response:
        params = _query(OhlcvQuerySerializer, request, symbol=symbol_from_path(symbol))
        bars = selectors.candles_list(**params)
        return Response(
            [
                {**asdict(bar), **{k: str(getattr(bar, k)) for k in ("open", "high", "low", "close", "volume")}}
                for bar in bars
            ]
        )


class OrderBookView(APIView):
    required_permission = "market_data.read"

    @extend_schema(parameters=[VenueQuerySerializer], responses=OrderBookSerializer)
    def get(self, request: Request, symbol: str) -> Response:
        params = _query(VenueQuerySerializer, request)
        book = selectors.order_book_latest(exchange=params["exchange"], symbol=symbol_from_path(symbol))
        if book is None:
            raise NotFound("no order book snapshot stored for this market")
        body = asdict(book)
        for side in ("bids", "asks"):
            body[side] = [[str(level.price), str(level.amount)] for level in getattr(book, side)]
        return Response(body)


class TickerView(APIView):
    required_permission = "market_data.read"

    @extend_schema(parameters=[VenueQuerySerializer], responses=TickerSerializer)
    def get(self, request: Request, symbol: str) -> Response:
        params = _query(VenueQuerySerializer, request)
        ticker = selectors.ticker_latest(exchange=params["exchange"], symbol=symbol_from_path(symbol))
        if ticker is None:
            raise NotFound("no ticker stored for this market")
        return Response(
            {
                k: (str(v) if k in ("last", "bid", "ask", "base_volume") and v is not None else v)
                for k, v in asdict(ticker).items()
            }
        )


class GapsView(APIView):
    required_permission = "market_data.read"

    @extend_schema(parameters=[RangeQuerySerializer], responses=GapsSerializer)
    def get(self, request: Request) -> Response:
        params = _query(RangeQuerySerializer, request)
        gaps = services.gaps_record(**params)
        return Response({"gaps": [asdict(gap) for gap in gaps], "missing": sum(gap.missing for gap in gaps)})


class GapFillView(APIView):
    required_permission = "market_data.sync"

    @extend_schema(request=GapFillRequestSerializer, responses=GapsFilledSerializer)
    def post(self, request: Request) -> Response:
        params = _body(GapFillRequestSerializer, request)
        filled = services.gaps_fill(**params, source=sources.candle_source_default())
        return Response({"filled": [asdict(gap) for gap in filled]})


class QualityView(APIView):
    required_permission = "market_data.read"

    @extend_schema(parameters=[QualityQuerySerializer], responses=QualityReportSerializer)
    def get(self, request: Request) -> Response:
        params = _query(QualityQuerySerializer, request)
        report = selectors.quality_report_series(**params)
        return Response({**asdict(report), "clean": report.clean})


class SyncView(APIView):
    required_permission = "market_data.sync"

    @extend_schema(request=SyncRequestSerializer, responses={202: IngestionJobSerializer})
    def post(self, request: Request) -> Response:
        job = actors.market_data_sync_request(**_body(SyncRequestSerializer, request))
        return Response(asdict(job), status=status.HTTP_202_ACCEPTED)


class SyncJobView(APIView):
    required_permission = "market_data.read"

    @extend_schema(responses=IngestionJobSerializer)
    def get(self, request: Request, job_id: str) -> Response:
        job = selectors.ingestion_job_get(job_id=job_id)
        if job is None:
            raise NotFound("no such ingestion job")
        return Response(asdict(job))


# --- analytics ----------------------------------------------------------------------------------------------


class PerformanceView(APIView):
    required_permission = "market_data.read"

    @extend_schema(parameters=[PerformanceQuerySerializer], responses=PerformanceMetricsSerializer)
    def get(self, request: Request) -> Response:
        params = _query(PerformanceQuerySerializer, request)
        return Response(_json(_analysis(lambda: selectors.performance_get(**params))))


class EquityCurveView(APIView):
    required_permission = "market_data.read"

    @extend_schema(parameters=[EquityCurveQuerySerializer], responses=EquityPointSerializer(many=True))
    def get(self, request: Request) -> Response:
        params = _query(EquityCurveQuerySerializer, request)
        points = _analysis(lambda: selectors.equity_curve_get(**params))
        return Response([{"time": p.time, "equity": str(p.equity), "drawdown": p.drawdown} for p in points])


class SharpeView(APIView):
    required_permission = "market_data.read"

    @extend_schema(parameters=[SharpeQuerySerializer], responses=SharpeSerializer)
    def get(self, request: Request) -> Response:
        params = _query(SharpeQuerySerializer, request)
        overall, rolling = _analysis(lambda: selectors.sharpe_get(**params))
        return Response(
            {"sharpe": _finite(overall), "rolling_sharpe": _finite(rolling), "window": params.get("window")}
        )


class CorrelationView(APIView):
    required_permission = "market_data.read"

    @extend_schema(parameters=[CorrelationQuerySerializer], responses=CorrelationMatrixSerializer)
    def get(self, request: Request) -> Response:
        params = _query(CorrelationQuerySerializer, request)
        return Response(asdict(_analysis(lambda: selectors.correlation_get(**params))))


class ReportGenerateView(APIView):
    required_permission = "data.report.generate"

    @extend_schema(request=ReportRequestSerializer, responses={202: ReportAcceptedSerializer})
    def post(self, request: Request) -> Response:
        report_id = actors.report_request(**_body(ReportRequestSerializer, request))
        return Response({"id": report_id, "status": "pending"}, status=status.HTTP_202_ACCEPTED)


class ReportView(APIView):
    required_permission = "data.report.read"

    @extend_schema(responses=ReportInfoSerializer)
    def get(self, request: Request, report_id: str) -> Response:
        report = selectors.report_get(report_id=report_id)
        if report is None:
            raise NotFound("no such report")
        return Response({**asdict(report), "html": f"{request.path.rstrip('/')}/html"})


class ReportHtmlView(APIView):
    required_permission = "data.report.read"

    @extend_schema(responses={(200, "text/html"): str})
    def get(self, request: Request, report_id: str) -> FileResponse:
        report = selectors.report_get(report_id=report_id)
        if report is None or report.status != "done":
            raise NotFound("no such report" if report is None else f"report is {report.status}")
        return FileResponse(storages["reports"].open(report.path, "rb"), content_type="text/html")
