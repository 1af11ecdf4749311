from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dsta.trading import services
from dsta.trading.models import CircuitBreaker, RiskViolation, Signal, StrategyInstance
from dsta.trading.serializers import (
    CircuitBreakerSerializer,
    ParametersSerializer,
    RiskLimitsSerializer,
    RiskLimitsUpdateSerializer,
    RiskViolationSerializer,
    SignalSerializer,
    StrategyInstanceSerializer,
)

ALIAS = "trading"
PAGE = 200
# Risk limits bind traders, so only admins change them (`risk.*` is outside the trader role's `trading.*`).


def _instance(instance_id: int) -> StrategyInstance:
    return get_object_or_404(StrategyInstance.objects.using(ALIAS), pk=instance_id)


class StrategyListView(APIView):
    required_permission = {"GET": "trading.read", "POST": "trading.strategy.manage"}

    @extend_schema(responses=StrategyInstanceSerializer(many=True))
    def get(self, request: Request) -> Response:
        instances = StrategyInstance.objects.using(ALIAS).order_by("id")
        return Response(StrategyInstanceSerializer(instances, many=True).data)

    @extend_schema(request=StrategyInstanceSerializer, responses=StrategyInstanceSerializer)
    def post(self, request: Request) -> Response:
        serializer = StrategyInstanceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            instance = services.strategy_instance_create(
                name=data["name"],
                strategy=data["strategy"],
                params=data["params"],
                exchange=data["exchange"],
                symbol=data["symbol"],
                timeframe=data["timeframe"],
                actor_id=request.user.pk,
            )
        except services.TradingInputError as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(StrategyInstanceSerializer(instance).data, status=status.HTTP_201_CREATED)


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
        try:
            instance = services.strategy_instance_set_params(
                instance=_instance(instance_id), params=serializer.validated_data["params"]
            )
        except services.TradingInputError as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(StrategyInstanceSerializer(instance).data)


class StrategySignalsView(APIView):
    required_permission = "trading.read"

    @extend_schema(responses=SignalSerializer(many=True))
    def get(self, request: Request, instance_id: int) -> Response:
        signals = Signal.objects.using(ALIAS).filter(instance=_instance(instance_id)).order_by("-bar_time")[:PAGE]
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
        limits = services.risk_limits_update(values=values, actor_id=request.user.pk, reason=reason)
        return Response(RiskLimitsSerializer(limits).data)


class CircuitBreakerView(APIView):
    required_permission = {"GET": "trading.read", "POST": "trading.circuit_breaker.set"}

    @extend_schema(responses=CircuitBreakerSerializer)
    def get(self, request: Request) -> Response:
        breaker = CircuitBreaker.objects.using(ALIAS).filter(pk=1).first() or CircuitBreaker(pk=1)
        return Response(CircuitBreakerSerializer(breaker).data)

    @extend_schema(request=CircuitBreakerSerializer, responses=CircuitBreakerSerializer)
    def post(self, request: Request) -> Response:
        serializer = CircuitBreakerSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        breaker = services.circuit_breaker_set(
            is_open=serializer.validated_data["is_open"],
            reason=serializer.validated_data["reason"],
            actor_id=request.user.pk,
        )
        return Response(CircuitBreakerSerializer(breaker).data)


class RiskViolationsView(APIView):
    required_permission = "trading.read"

    @extend_schema(responses=RiskViolationSerializer(many=True))
    def get(self, request: Request) -> Response:
        violations = RiskViolation.objects.using(ALIAS).order_by("-created_at")[:PAGE]
        return Response(RiskViolationSerializer(violations, many=True).data)
