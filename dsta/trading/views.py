from __future__ import annotations

from dataclasses import asdict
from functools import cache

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dsta.exchange.contracts import ExchangeError
from dsta.trading import orders, placement, selectors, services
from dsta.trading.models import Order, PositionStop, StrategyInstance
from dsta.trading.serializers import (
    CircuitBreakerSerializer,
    FillSerializer,
    OrderCreateSerializer,
    OrderFieldsSerializer,
    OrderIntentSerializer,
    OrderSerializer,
    OrderTransitionSerializer,
    ParametersSerializer,
    PnlSerializer,
    PositionSerializer,
    PositionStopCreateSerializer,
    PositionStopSerializer,
    ReconcileSerializer,
    RiskCheckResultSerializer,
    RiskLimitsSerializer,
    RiskLimitsUpdateSerializer,
    RiskViolationSerializer,
    SignalSerializer,
    StrategyInstanceSerializer,
)

PAGE = 200
# Risk limits bind traders, so only admins change them (`risk.*` is outside the trader role's `trading.*`).


def _instance(instance_id: int) -> StrategyInstance:
    instance = selectors.strategy_instance(instance_id=instance_id)
    if instance is None:
        raise Http404("no such strategy instance")
    return instance


def _client_address(request: Request) -> str | None:
    """The client's address for the audit log (passed down to the services as a primitive)."""
    return request.META.get("REMOTE_ADDR") or None


class StrategyListView(APIView):
    required_permission = {"GET": "trading.read", "POST": "trading.strategy.manage"}

    @extend_schema(responses=StrategyInstanceSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(StrategyInstanceSerializer(selectors.strategy_instances(), many=True).data)

    # POST (an instance with its bot settings): bot_views.StrategyCreateView, which the URL serves.


class StrategyDetailView(APIView):
    required_permission = "trading.read"

    @extend_schema(responses=StrategyInstanceSerializer)
    def get(self, request: Request, instance_id: int) -> Response:
        return Response(StrategyInstanceSerializer(_instance(instance_id)).data)


class StrategyParametersView(APIView):
    required_permission = "trading.strategy.manage"

    @extend_schema(request=ParametersSerializer, responses=StrategyInstanceSerializer)
    def put(self, request: Request, instance_id: int) -> Response:
        serializer = ParametersSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instance = services.strategy_instance_set_params(
            instance=_instance(instance_id), params=serializer.validated_data["params"]
        )
        return Response(StrategyInstanceSerializer(instance).data)


class StrategySignalsView(APIView):
    required_permission = "trading.read"

    @extend_schema(responses=SignalSerializer(many=True))
    def get(self, request: Request, instance_id: int) -> Response:
        signals = selectors.signals_recent(instance_id=_instance(instance_id).pk, limit=PAGE)
        return Response(SignalSerializer(signals, many=True).data)


class RiskLimitsView(APIView):
    required_permission = {"GET": "trading.read", "PUT": "risk.limits.write"}

    @extend_schema(responses=RiskLimitsSerializer)
    def get(self, request: Request) -> Response:
        return Response(RiskLimitsSerializer(services.risk_limits_current()).data)

    @extend_schema(request=RiskLimitsUpdateSerializer, responses=RiskLimitsSerializer)
    def put(self, request: Request) -> Response:
        serializer = RiskLimitsUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        reason = values.pop("reason")
        limits = services.risk_limits_update(
            values=values, actor_id=request.user.pk, reason=reason, client_address=_client_address(request)
        )
        return Response(RiskLimitsSerializer(limits).data)


class CircuitBreakerView(APIView):
    required_permission = {"GET": "trading.read", "POST": "trading.circuit_breaker.set"}

    @extend_schema(responses=CircuitBreakerSerializer)
    def get(self, request: Request) -> Response:
        return Response(CircuitBreakerSerializer(selectors.circuit_breaker()).data)

    @extend_schema(request=CircuitBreakerSerializer, responses=CircuitBreakerSerializer)
    def post(self, request: Request) -> Response:
        serializer = CircuitBreakerSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        breaker = services.circuit_breaker_set(
            is_open=serializer.validated_data["is_open"],
            reason=serializer.validated_data["reason"],
            actor_id=request.user.pk,
            client_address=_client_address(request),
        )
        return Response(CircuitBreakerSerializer(breaker).data)


class RiskViolationsView(APIView):
    required_permission = "trading.read"

    @extend_schema(responses=RiskViolationSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(RiskViolationSerializer(selectors.risk_violations_recent(limit=PAGE), many=True).data)


# -- orders, fills, positions, P&L --------------------------------------------------------------------------


@cache
def _order_representation() -> tuple[OrderFieldsSerializer, OrderTransitionSerializer]:
    """Serializers whose fields are built once: a ModelSerializer otherwise introspects the model and builds
    every field again for each response. to_representation keeps no state, so sharing them is safe."""
    order_fields, transition = OrderFieldsSerializer(), OrderTransitionSerializer()
    order_fields.fields  # noqa: B018  (build and bind them now)
    transition.fields  # noqa: B018
    return order_fields, transition


def _order_response(order: Order, *, status_code: int = status.HTTP_200_OK) -> Response:
    """`order` as its caller holds it (every order path keeps its instance in step with what it stored) and its
    transitions as stored: an OrderSerializer's shape."""
    order_fields, transition = _order_representation()
    body = order_fields.to_representation(order)
    body["transitions"] = [transition.to_representation(row) for row in selectors.order_transitions(order_id=order.pk)]
    return Response(body, status=status_code)


class OrdersView(APIView):
    required_permission = "trading.order.create"

    @extend_schema(
        request=OrderCreateSerializer,
        responses=OrderSerializer,
        description=(
            "Place an order on the desk's shared book (one account per venue: positions and risk are per venue "
            "account, and any trader may see and cancel desk orders). A retry under the caller's own "
            "client_order_id returns the stored order; another user's client_order_id is a 409, and different "
            "terms under a known id a 400. An order rejected by risk or the venue carries the reason in "
            "`last_error`."
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = OrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        new = orders.NewOrder(
            exchange=data["exchange"],
            symbol=data["symbol"],
            side=data["side"],
            order_type=data["order_type"],
            quantity=data["quantity"],
            price=data.get("price"),
            client_order_id=data.get("client_order_id", ""),
            strategy_instance_id=data.get("strategy_instance_id"),
            user_id=request.user.pk,
        )
        algo = None
        if "twap_slices" in data:
            algo = placement.AlgoRequest("twap", data["twap_slices"], data["twap_duration_seconds"])
        elif "vwap_slices" in data:
            algo = placement.AlgoRequest(
                "vwap",
                data["vwap_slices"],
                data["vwap_duration_seconds"],
                data.get("vwap_lookback_days", orders.DEFAULT_LOOKBACK_DAYS),
            )
        order = placement.order_request(new=new, algo=algo, client_address=_client_address(request))
        return _order_response(order, status_code=status.HTTP_201_CREATED)


class OrderDetailView(APIView):
    required_permission = "trading.read"

    @extend_schema(responses=OrderSerializer)
    def get(self, request: Request, order_id: int) -> Response:
        order = selectors.order_get(order_id=order_id)
        if order is None:
            raise Http404("no such order")
        return _order_response(order)


class OrderCancelView(APIView):
    required_permission = "trading.order.cancel"

    @extend_schema(
        request=None,
        responses=OrderSerializer,
        description="Cancel an open order of the desk (the book is shared: any trader may cancel desk orders).",
    )
    def put(self, request: Request, order_id: int) -> Response:
        try:
            order = orders.order_cancel(order_id, actor_id=request.user.pk, client_address=_client_address(request))
        except Order.DoesNotExist:
            raise Http404("no such order") from None
        except orders.IllegalTransition as exc:
            return Response({"status": [str(exc)]}, status=status.HTTP_409_CONFLICT)
        return _order_response(order)


class ActiveOrdersView(APIView):
    required_permission = "trading.read"

    @extend_schema(responses=OrderSerializer(many=True))
    def get(self, request: Request) -> Response:
        active = selectors.orders_active(final_statuses=orders.FINAL, limit=PAGE)
        return Response(OrderSerializer(active, many=True).data)


class FillsView(APIView):
    required_permission = "trading.read"

    @extend_schema(responses=FillSerializer(many=True))
    def get(self, request: Request) -> Response:
        symbol = request.query_params.get("symbol")
        order_id = request.query_params.get("order_id")
        if order_id is not None and not order_id.isdigit():
            return Response({"order_id": ["expected an integer"]}, status=status.HTTP_400_BAD_REQUEST)
        fills = selectors.fills_recent(
            symbol=symbol.replace("-", "/") if symbol is not None else None,
            order_id=int(order_id) if order_id is not None else None,
            limit=PAGE,
        )
        return Response(FillSerializer(fills, many=True).data)


class PositionsView(APIView):
    required_permission = "trading.read"

    @extend_schema(responses=PositionSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(PositionSerializer(selectors.positions(), many=True).data)


class PositionDetailView(APIView):
    required_permission = "trading.read"

    # A list too (one position per exchange), so its own id: the generated one is /positions' `v1_positions_list`.
    @extend_schema(responses=PositionSerializer(many=True), operation_id="v1_positions_symbol_list")
    def get(self, request: Request, symbol: str) -> Response:
        """The symbol's position on every exchange (BTC-USDT in the path for BTC/USDT)."""
        positions = selectors.positions_of(
            symbol=symbol.replace("-", "/"), exchange=request.query_params.get("exchange")
        )
        if not positions:
            return Response({"detail": "no position in this symbol"}, status=status.HTTP_404_NOT_FOUND)
        return Response(PositionSerializer(positions, many=True).data)


class PortfolioPnlView(APIView):
    required_permission = "trading.read"

    @extend_schema(responses=PnlSerializer(many=True))
    def get(self, request: Request) -> Response:
        """P&L now: one row per market and a total row (symbol ""), unrealised at the latest mark."""
        return Response(PnlSerializer(orders.pnl_compute(), many=True).data)


class RiskCheckView(APIView):
    required_permission = "trading.risk.check"

    @extend_schema(request=OrderIntentSerializer, responses=RiskCheckResultSerializer)
    def post(self, request: Request) -> Response:
        serializer = OrderIntentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        decision = orders.risk_check(
            exchange=data["exchange"],
            symbol=data["symbol"],
            side=data["side"],
            order_type=data["order_type"],
            quantity=data["quantity"],
            price=data.get("price"),
        )
        body = {"approved": decision.approved, "violations": [asdict(v) for v in decision.violations]}
        return Response(RiskCheckResultSerializer(body).data)


class PositionsReconcileView(APIView):
    required_permission = "trading.positions.reconcile"

    @extend_schema(request=ReconcileSerializer, responses=None)
    def post(self, request: Request) -> Response:
        serializer = ReconcileSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            report = orders.positions_reconcile(
                exchange=serializer.validated_data["exchange"],
                repair=serializer.validated_data["repair"],
                actor_id=request.user.pk,
                client_address=_client_address(request),
            )
        except ExchangeError as exc:
            return Response({"exchange": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(
            {
                "exchange": report.exchange,
                "positions": [
                    {
                        "symbol": d.symbol,
                        "recorded": str(d.recorded),
                        "exchange": str(d.exchange),
                        "repaired": d.repaired,
                    }
                    for d in report.positions
                ],
                "unknown_open_orders": report.unknown_open_orders,
                "missing_open_orders": report.missing_open_orders,
            }
        )


class PositionStopsView(APIView):
    required_permission = {"GET": "trading.read", "POST": "trading.stop.manage"}

    @extend_schema(responses=PositionStopSerializer(many=True))
    def get(self, request: Request, symbol: str) -> Response:
        """The stops of the symbol's positions, newest first (BTC-USDT in the path for BTC/USDT)."""
        found = selectors.stops_of(
            symbol=symbol.replace("-", "/"), status=request.query_params.get("status"), limit=PAGE
        )
        return Response(PositionStopSerializer(found, many=True).data)

    @extend_schema(request=PositionStopCreateSerializer, responses=PositionStopSerializer)
    def post(self, request: Request, symbol: str) -> Response:
        """Attach a stop-loss (stop_price) or a trailing stop (trail_pct) to the open position."""
        from dsta.trading import stops

        serializer = PositionStopCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        stop = stops.stop_attach(
            exchange=data["exchange"],
            symbol=symbol.replace("-", "/"),
            kind=data["kind"],
            stop_price=data.get("stop_price"),
            trail_pct=data.get("trail_pct"),
            actor_id=request.user.pk,
            client_address=_client_address(request),
        )
        return Response(PositionStopSerializer(stop).data, status=status.HTTP_201_CREATED)


class PositionStopCancelView(APIView):
    required_permission = "trading.stop.manage"

    @extend_schema(request=None, responses=PositionStopSerializer)
    def put(self, request: Request, symbol: str, stop_id: int) -> Response:
        from dsta.trading import stops

        try:
            stop = stops.stop_cancel(
                stop_id=stop_id,
                symbol=symbol.replace("-", "/"),
                actor_id=request.user.pk,
                client_address=_client_address(request),
            )
        except PositionStop.DoesNotExist:
            raise Http404("no such stop") from None
        return Response(PositionStopSerializer(stop).data)
