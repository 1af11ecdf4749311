"""Input validation for the exchange endpoints (bad input -> 400 with field errors)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from dsta.exchange.contracts import OrderRequest, OrderSide, OrderType
from dsta.exchange.mapping import plain

SYMBOL_PATTERN = r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}$"
CLIENT_ORDER_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,26}$"  # Gate.io allows 28 bytes including its "t-" prefix

AMOUNT = {"max_digits": 38, "decimal_places": 18}


class OrderRequestSerializer(serializers.Serializer[OrderRequest]):
    symbol = serializers.RegexField(SYMBOL_PATTERN, help_text="BASE/QUOTE, e.g. BTC/USDT")
    side = serializers.ChoiceField(choices=[side.value for side in OrderSide])
    order_type = serializers.ChoiceField(choices=[kind.value for kind in OrderType])
    amount = serializers.DecimalField(**AMOUNT)
    price = serializers.DecimalField(**AMOUNT, required=False, allow_null=True, default=None)
    client_order_id = serializers.RegexField(CLIENT_ORDER_ID_PATTERN, help_text="idempotency key")

    def validate_amount(self, value: Any) -> Any:
        if value <= 0:
            raise serializers.ValidationError("must be positive")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        price = attrs.get("price")
        if attrs["order_type"] == OrderType.LIMIT.value and price is None:
            raise serializers.ValidationError({"price": "required for a limit order"})
        if attrs["order_type"] == OrderType.MARKET.value and price is not None:
            raise serializers.ValidationError({"price": "a market order takes no price"})
        if price is not None and price <= 0:
            raise serializers.ValidationError({"price": "must be positive"})
        return attrs

    def to_request(self) -> OrderRequest:
        data = self.validated_data
        return OrderRequest(
            symbol=data["symbol"],
            side=OrderSide(data["side"]),
            order_type=OrderType(data["order_type"]),
            amount=plain(data["amount"]),
            client_order_id=data["client_order_id"],
            price=None if data.get("price") is None else plain(data["price"]),
        )


class CancelSerializer(serializers.Serializer[dict[str, Any]]):
    client_order_id = serializers.RegexField(CLIENT_ORDER_ID_PATTERN)


class BatchCancelSerializer(serializers.Serializer[dict[str, Any]]):
    client_order_ids = serializers.ListField(
        child=serializers.RegexField(CLIENT_ORDER_ID_PATTERN), min_length=1, max_length=100
    )


class DepthSerializer(serializers.Serializer[dict[str, Any]]):
    depth = serializers.IntegerField(min_value=1, max_value=1000, default=20)
