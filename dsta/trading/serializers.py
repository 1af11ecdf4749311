from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from dsta.data.contracts import TIMEFRAME_SECONDS
from dsta.trading.models import (
    Fill,
    Order,
    OrderTransition,
    PnlSnapshot,
    Position,
    PositionStop,
    RiskLimitSet,
    RiskViolation,
    Signal,
    StrategyInstance,
)


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
            "model_name",
            "enabled",
            "mode",
            "venue",
            "capital",
            "state",
            "commission",
            "slippage",
            "cooldown_bars",
            "max_drawdown_pct",
            "daily_loss_limit",
            "armed_at",
            "held_target",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "strategy_version",
            "params_version",
            "venue",
            "state",
            "armed_at",
            "held_target",
            "created_at",
            "updated_at",
        ]
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
            "inputs",
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
            "drawdown_capital",
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
    drawdown_capital = serializers.DecimalField(
        max_digits=28, decimal_places=10, min_value=Decimal("0.0000000001"), required=False
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


QUANTITY = {"max_digits": 28, "decimal_places": 10}


class OrderIntentSerializer(serializers.Serializer):
    """An order as a client asks for it (also the body of `/risk/check`)."""

    exchange = serializers.CharField(max_length=32)
    symbol = serializers.RegexField(r"^[A-Z0-9]{2,15}/[A-Z0-9]{2,15}$", max_length=32)
    side = serializers.ChoiceField(choices=["buy", "sell"])
    order_type = serializers.ChoiceField(choices=["market", "limit"], default="market")
    quantity = serializers.DecimalField(**QUANTITY, min_value=Decimal("0.0000000001"))
    price = serializers.DecimalField(**QUANTITY, min_value=Decimal("0.0000000001"), required=False, allow_null=True)

    def validate(self, attrs: dict) -> dict:  # type: ignore[type-arg]
        from dsta.exchange import api as exchange_api

        if attrs["exchange"] not in {venue.name for venue in exchange_api.venues_list()}:
            raise serializers.ValidationError({"exchange": ["unknown exchange"]})
        if attrs["order_type"] == "limit" and attrs.get("price") is None:
            raise serializers.ValidationError({"price": ["a limit order needs a price"]})
        if attrs["order_type"] == "market" and attrs.get("price") is not None:
            raise serializers.ValidationError({"price": ["a market order takes no price"]})
        return attrs


class OrderCreateSerializer(OrderIntentSerializer):
    client_order_id = serializers.RegexField(
        r"^[A-Za-z0-9_-]{1,64}$",
        required=False,
        help_text=(
            "Your idempotency key. A retry under your own id returns the stored order (different terms: 400); "
            "an id another user's order holds is a 409. The book itself is shared: any trader may see and "
            "cancel the desk's orders."
        ),
    )
    strategy_instance_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    twap_slices = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    twap_duration_seconds = serializers.IntegerField(min_value=0, max_value=7 * 86400, required=False)
    vwap_slices = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    vwap_duration_seconds = serializers.IntegerField(min_value=1, max_value=7 * 86400, required=False)
    vwap_lookback_days = serializers.IntegerField(min_value=1, max_value=365, required=False)

    def validate(self, attrs: dict) -> dict:  # type: ignore[type-arg]
        attrs = super().validate(attrs)
        if ("twap_slices" in attrs) != ("twap_duration_seconds" in attrs):
            raise serializers.ValidationError({"twap_slices": ["give both twap_slices and twap_duration_seconds"]})
        if "twap_slices" in attrs and attrs["order_type"] != "market":
            raise serializers.ValidationError({"order_type": ["TWAP slices are market orders"]})
        if ("vwap_slices" in attrs) != ("vwap_duration_seconds" in attrs):
            raise serializers.ValidationError({"vwap_slices": ["give both vwap_slices and vwap_duration_seconds"]})
        if "vwap_lookback_days" in attrs and "vwap_slices" not in attrs:
            raise serializers.ValidationError({"vwap_lookback_days": ["only for a VWAP order (vwap_slices)"]})
        if "vwap_slices" in attrs and "twap_slices" in attrs:
            raise serializers.ValidationError({"vwap_slices": ["an order is either TWAP or VWAP"]})
        if "vwap_slices" in attrs and attrs["order_type"] != "market":
            raise serializers.ValidationError({"order_type": ["VWAP slices are market orders"]})
        return attrs


class OrderTransitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderTransition
        fields = ["from_status", "to_status", "reason", "at"]


class OrderFieldsSerializer(serializers.ModelSerializer):
    """An order without its transitions (the views add those from one read of their own)."""

    class Meta:
        model = Order
        fields = [
            "id",
            "client_order_id",
            "exchange",
            "symbol",
            "side",
            "order_type",
            "quantity",
            "price",
            "status",
            "filled_quantity",
            "average_price",
            "fees",
            "exchange_order_id",
            "last_error",
            "strategy_instance_id",
            "user_id",
            "algo",
            "slices",
            "interval_seconds",
            "parent_id",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "last_error": {"help_text": "Why the order was rejected (the risk check's or the venue's message)."},
            "user_id": {"help_text": "Who placed it; the book is shared, so any trader may cancel it."},
        }


class OrderSerializer(OrderFieldsSerializer):
    transitions = OrderTransitionSerializer(many=True, read_only=True)

    class Meta(OrderFieldsSerializer.Meta):
        fields = [*OrderFieldsSerializer.Meta.fields, "transitions"]


class FillSerializer(serializers.ModelSerializer):
    class Meta:
        model = Fill
        fields = [
            "id",
            "exchange",
            "exchange_fill_id",
            "order_id",
            "symbol",
            "side",
            "quantity",
            "price",
            "fee",
            "is_maker",
            "executed_at",
        ]


class PositionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Position
        fields = ["exchange", "symbol", "quantity", "average_price", "realised_pnl", "fees", "updated_at"]


class PnlSerializer(serializers.ModelSerializer):
    class Meta:
        model = PnlSnapshot
        fields = ["taken_at", "exchange", "symbol", "quantity", "mark_price", "realised_pnl", "unrealised_pnl", "fees"]


class ViolationSerializer(serializers.Serializer):
    rule = serializers.CharField()
    message = serializers.CharField()
    limit = serializers.CharField()
    actual = serializers.CharField()


class RiskCheckResultSerializer(serializers.Serializer):
    approved = serializers.BooleanField()
    violations = ViolationSerializer(many=True)


class ReconcileSerializer(serializers.Serializer):
    exchange = serializers.CharField(max_length=32)
    repair = serializers.BooleanField(default=False)


class PositionStopCreateSerializer(serializers.Serializer):
    exchange = serializers.CharField(max_length=32)
    kind = serializers.ChoiceField(choices=["stop_loss", "trailing_stop"])
    stop_price = serializers.DecimalField(**QUANTITY, min_value=Decimal("0.0000000001"), required=False)
    trail_pct = serializers.DecimalField(
        max_digits=8, decimal_places=4, min_value=Decimal("0.0001"), max_value=Decimal("99.9999"), required=False
    )

    def validate(self, attrs: dict) -> dict:  # type: ignore[type-arg]
        if attrs["kind"] == "stop_loss" and "stop_price" not in attrs:
            raise serializers.ValidationError({"stop_price": ["a stop-loss needs stop_price"]})
        if attrs["kind"] == "trailing_stop" and "trail_pct" not in attrs:
            raise serializers.ValidationError({"trail_pct": ["a trailing stop needs trail_pct"]})
        if attrs["kind"] == "stop_loss" and "trail_pct" in attrs:
            raise serializers.ValidationError({"trail_pct": ["only for a trailing stop"]})
        if attrs["kind"] == "trailing_stop" and "stop_price" in attrs:
            raise serializers.ValidationError({"stop_price": ["a trailing stop follows the price; give trail_pct"]})
        return attrs


class PositionStopSerializer(serializers.ModelSerializer):
    class Meta:
        model = PositionStop
        fields = [
            "id",
            "exchange",
            "symbol",
            "kind",
            "close_side",
            "stop_price",
            "trail_pct",
            "water_mark",
            "status",
            "trigger_price",
            "triggered_at",
            "order_id",
            "created_by_id",
            "created_at",
            "updated_at",
        ]
