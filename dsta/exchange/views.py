"""REST endpoints of the exchange domain under /api/v1/exchange/. Every view reads and writes through the
facade; exchange errors map onto HTTP statuses in one place (ExchangeView.handle_exception)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dsta.exchange import api
from dsta.exchange.contracts import (
    AuthenticationFailed,
    BusinessError,
    ExchangeError,
    OrderNotFound,
    RateLimited,
    TransientError,
    UnknownVenue,
)
from dsta.exchange.serializers import (
    BatchCancelSerializer,
    CancelSerializer,
    DepthSerializer,
    OrderRequestSerializer,
)
from dsta.kernel.events import to_jsonable

_STATUS_BY_ERROR: tuple[tuple[type[ExchangeError], int], ...] = (
    (UnknownVenue, status.HTTP_404_NOT_FOUND),
    (OrderNotFound, status.HTTP_404_NOT_FOUND),
    (AuthenticationFailed, status.HTTP_502_BAD_GATEWAY),
    (BusinessError, status.HTTP_400_BAD_REQUEST),
    (RateLimited, status.HTTP_429_TOO_MANY_REQUESTS),
    (TransientError, status.HTTP_503_SERVICE_UNAVAILABLE),
    (ExchangeError, status.HTTP_502_BAD_GATEWAY),
)


def symbol_from_path(raw: str) -> str:
    """URL-safe symbol forms BTC-USDT and BTC_USDT stand for BTC/USDT."""
    return raw.upper().replace("-", "/").replace("_", "/")


class ExchangeView(APIView):
    """Base of the exchange endpoints: maps exchange errors to HTTP. Each view declares the permission it
    needs; core's RBAC permission class (the DRF default) enforces it."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, ExchangeError):
            code = next(code for kind, code in _STATUS_BY_ERROR if isinstance(exc, kind))
            return Response({"error": type(exc).__name__, "detail": str(exc)}, status=code)
        return super().handle_exception(exc)


def ok(value: Any, code: int = status.HTTP_200_OK) -> Response:
    return Response(to_jsonable(value), status=code)


class HealthView(ExchangeView):
    required_permission = "market_data.read"

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Breaker state and rate-limit tokens per live venue")
    def get(self, request: Request) -> Response:
        return ok(api.exchange_health())


class StatusView(ExchangeView):
    required_permission = "market_data.read"

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, name: str) -> Response:
        return ok(api.venue_status(venue=name))


class OrderSubmitView(ExchangeView):
    required_permission = "exchange.order.manage"

    @extend_schema(request=OrderRequestSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, name: str) -> Response:
        serializer = OrderRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return ok(api.order_submit(venue=name, request=serializer.to_request()), status.HTTP_201_CREATED)


class OrderDetailView(ExchangeView):
    required_permission = "exchange.account.read"

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="An order by its client order id")
    def get(self, request: Request, name: str, client_order_id: str) -> Response:
        return ok(api.order_get(venue=name, client_order_id=client_order_id))


class CancelView(ExchangeView):
    required_permission = "exchange.order.manage"

    @extend_schema(request=CancelSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, name: str) -> Response:
        serializer = CancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return ok(api.order_cancel(venue=name, client_order_id=serializer.validated_data["client_order_id"]))


class BatchCancelView(ExchangeView):
    required_permission = "exchange.order.manage"

    @extend_schema(request=BatchCancelSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, name: str) -> Response:
        serializer = BatchCancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ids = serializer.validated_data["client_order_ids"]
        return ok(api.orders_cancel_batch(venue=name, client_order_ids=ids))


class BalanceView(ExchangeView):
    required_permission = "exchange.account.read"

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, name: str) -> Response:
        return ok(api.balance_get(venue=name))


class AccountView(ExchangeView):
    required_permission = "exchange.account.read"

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Balances and open orders")
    def get(self, request: Request, name: str) -> Response:
        return ok({"balances": api.balance_get(venue=name), "open_orders": api.orders_open_list(venue=name)})


class TickerView(ExchangeView):
    required_permission = "market_data.read"

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, name: str, symbol: str) -> Response:
        return ok(api.ticker_get(venue=name, symbol=symbol_from_path(symbol)))


class OrderBookView(ExchangeView):
    required_permission = "market_data.read"

    @extend_schema(parameters=[DepthSerializer], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, name: str, symbol: str) -> Response:
        query = DepthSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        depth = query.validated_data["depth"]
        return ok(api.order_book_get(venue=name, symbol=symbol_from_path(symbol), depth=depth))
