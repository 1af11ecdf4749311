from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from dsta.data.contracts import TIMEFRAME_SECONDS
from dsta.trading.models import RiskLimitSet, RiskViolation, Signal, StrategyInstance


class StrategyInstanceSerializer(serializers.ModelSerializer):
    params = serializers.DictField(child=serializers.FloatField(), required=False, default=dict)
    timeframe = serializers.ChoiceField(choices=sorted(TIMEFRAME_SECONDS))

    class Meta:
        model = StrategyInstance
        fields = [
            "id",
            "name",
            "strategy",
            "strategy_version",
            "params",
            "params_version",
            "exchange",
            "symbol",
            "timeframe",
            "enabled",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "strategy_version", "params_version", "created_at", "updated_at"]
        # Uniqueness of `name` is reported by the service as a field error, inside its transaction.
        extra_kwargs = {"name": {"validators": []}}


class ParametersSerializer(serializers.Serializer):
    params = serializers.DictField(child=serializers.FloatField())


class SignalSerializer(serializers.ModelSerializer):
    class Meta:
        model = Signal
        fields = [
            "bar_time",
            "params_version",
            "close",
            "target",
            "order_type",
            "price",
            "stop_loss",
            "take_profit",
            "created_at",
        ]


class RiskLimitsSerializer(serializers.ModelSerializer):
    class Meta:
        model = RiskLimitSet
        fields = [
            "version",
            "max_order_notional",
            "max_position_notional",
            "max_total_exposure",
            "max_open_orders",
            "price_band_pct",
            "max_orders_per_minute",
            "max_drawdown_pct",
            "created_at",
            "created_by_id",
            "reason",
        ]
        read_only_fields = ["version", "created_at", "created_by_id"]


class RiskLimitsUpdateSerializer(serializers.Serializer):
    max_order_notional = serializers.DecimalField(
        max_digits=28, decimal_places=10, min_value=Decimal("0"), required=False
    )
    max_position_notional = serializers.DecimalField(
        max_digits=28, decimal_places=10, min_value=Decimal("0"), required=False
    )
    max_total_exposure = serializers.DecimalField(
        max_digits=28, decimal_places=10, min_value=Decimal("0"), required=False
    )
    max_open_orders = serializers.IntegerField(min_value=0, max_value=100_000, required=False)
    price_band_pct = serializers.DecimalField(
        max_digits=8, decimal_places=4, min_value=Decimal("0"), max_value=Decimal("100"), required=False
    )
    max_orders_per_minute = serializers.IntegerField(min_value=0, max_value=1_000_000, required=False)
    max_drawdown_pct = serializers.DecimalField(
        max_digits=8, decimal_places=4, min_value=Decimal("0"), max_value=Decimal("100"), required=False
    )
    reason = serializers.CharField(max_length=300, required=False, default="")

    def validate(self, attrs: dict) -> dict:  # type: ignore[type-arg]
        if len(set(attrs) - {"reason"}) == 0:
            raise serializers.ValidationError({"non_field_errors": ["change at least one limit"]})
        return attrs


class CircuitBreakerSerializer(serializers.Serializer):
    is_open = serializers.BooleanField()
    reason = serializers.CharField(max_length=300, allow_blank=True, default="")
    changed_at = serializers.DateTimeField(read_only=True)


class RiskViolationSerializer(serializers.ModelSerializer):
    class Meta:
        model = RiskViolation
        fields = ["id", "rule", "message", "limit", "actual", "symbol", "limits_version", "created_at"]
