"""The bot's endpoints: create an instance with its trading settings, start / pause / stop, arm / disarm live
trading, and its performance and parity reports. Thin: each calls one service and maps its errors to 400."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.shortcuts import get_object_or_404
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dsta.trading import bot, views
from dsta.trading.models import StrategyInstance
from dsta.trading.serializers import StrategyInstanceSerializer

ALIAS = "trading"


class StrategyCreateView(views.StrategyListView):
    """GET as before; POST also takes the bot settings (mode, capital, cost model, protections)."""

    @extend_schema(request=StrategyInstanceSerializer, responses=StrategyInstanceSerializer)
    def post(self, request: Request) -> Response:
        serializer = StrategyInstanceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        defaults = bot.BotSettings()
        settings = bot.BotSettings(
            mode=data.get("mode", defaults.mode),
            capital=data.get("capital", defaults.capital),
            commission=data.get("commission", defaults.commission),
            slippage=data.get("slippage", defaults.slippage),
            cooldown_bars=data.get("cooldown_bars", defaults.cooldown_bars),
            max_drawdown_pct=data.get("max_drawdown_pct", defaults.max_drawdown_pct),
            daily_loss_limit=data.get("daily_loss_limit", defaults.daily_loss_limit),
        )
        instance = bot.instance_create(
            name=data["name"],
            strategy=data["strategy"],
            params=data["params"],
            exchange=data["exchange"],
            symbol=data["symbol"],
            timeframe=data["timeframe"],
            actor_id=request.user.pk,
            settings=settings,
            model_name=data.get("model_name", ""),
        )
        return Response(StrategyInstanceSerializer(instance).data, status=status.HTTP_201_CREATED)


def _state_change(
    request: Request, instance_id: int, change: Callable[..., StrategyInstance], **extra: object
) -> Response:
    get_object_or_404(StrategyInstance.objects.using(ALIAS), pk=instance_id)
    instance = change(instance_id=instance_id, actor_id=request.user.pk, **extra)
    return Response(StrategyInstanceSerializer(instance).data)


class BotStartView(APIView):
    required_permission = "trading.strategy.manage"

    @extend_schema(request=None, responses=StrategyInstanceSerializer)
    def post(self, request: Request, instance_id: int) -> Response:
        return _state_change(request, instance_id, bot.bot_start)


class BotPauseView(APIView):
    required_permission = "trading.strategy.manage"

    @extend_schema(request=None, responses=StrategyInstanceSerializer)
    def post(self, request: Request, instance_id: int) -> Response:
        return _state_change(request, instance_id, bot.bot_pause)


class BotStopView(APIView):
    required_permission = "trading.strategy.manage"

    @extend_schema(request=None, responses=StrategyInstanceSerializer)
    def post(self, request: Request, instance_id: int) -> Response:
        return _state_change(request, instance_id, bot.bot_stop)


class ArmSerializer(serializers.Serializer):
    confirmation = serializers.CharField(help_text=f"exactly: {bot.ARM_CONFIRMATION}")


class BotArmView(APIView):
    required_permission = "trading.strategy.manage"

    @extend_schema(request=ArmSerializer, responses=StrategyInstanceSerializer)
    def post(self, request: Request, instance_id: int) -> Response:
        serializer = ArmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _state_change(request, instance_id, bot.bot_arm, confirmation=serializer.validated_data["confirmation"])


class BotDisarmView(APIView):
    required_permission = "trading.strategy.manage"

    @extend_schema(request=None, responses=StrategyInstanceSerializer)
    def post(self, request: Request, instance_id: int) -> Response:
        return _state_change(request, instance_id, bot.bot_disarm)


def _window(request: Request) -> tuple[datetime | None, datetime | None, dict[str, str]]:
    errors: dict[str, str] = {}
    bounds: list[datetime | None] = []
    for name in ("start", "end"):
        raw = request.query_params.get(name)
        value = parse_datetime(raw) if raw else None
        if raw and (value is None or value.tzinfo is None):
            errors[name] = "an ISO 8601 time with a zone, e.g. 2025-01-01T00:00:00Z"
        bounds.append(value)
    start, end = bounds
    if start and end and start >= end and not errors:
        errors["end"] = "must be after start"
    return start, end, errors


WINDOW = [
    OpenApiParameter("start", str, description="ISO 8601, inclusive (default: the first bar the bot saw)"),
    OpenApiParameter("end", str, description="ISO 8601, exclusive (default: after the last one)"),
]


class BotPerformanceView(APIView):
    required_permission = "trading.read"

    @extend_schema(responses=dict)
    def get(self, request: Request, instance_id: int) -> Response:
        from dsta.trading import performance

        instance = get_object_or_404(StrategyInstance.objects.using(ALIAS), pk=instance_id)
        return Response(performance.as_json(performance.instance_performance(instance=instance)))


class BotParityView(APIView):
    required_permission = "trading.read"

    @extend_schema(parameters=WINDOW, responses=dict)
    def get(self, request: Request, instance_id: int) -> Response:
        from dsta.trading import parity

        instance = get_object_or_404(StrategyInstance.objects.using(ALIAS), pk=instance_id)
        start, end, errors = _window(request)
        if errors:
            return Response(errors, status=status.HTTP_400_BAD_REQUEST)
        report = parity.parity_report(instance=instance, start=start, end=end)
        return Response(parity.as_json(report))
