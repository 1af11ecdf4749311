from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from dsta.data.contracts import TIMEFRAME_SECONDS, BacktestRequest
from dsta.exchange.contracts import DEFAULT_COSTS

NUMBER = serializers.FloatField()


class BacktestRequestSerializer(serializers.Serializer):
    strategy = serializers.CharField(max_length=64)
    params = serializers.DictField(child=serializers.FloatField(), required=False, default=dict)
    exchange = serializers.CharField(max_length=32, default="binance")
    symbol = serializers.CharField(max_length=32)
    timeframe = serializers.ChoiceField(choices=sorted(TIMEFRAME_SECONDS))
    start = serializers.DateTimeField(required=False, allow_null=True, default=None)
    end = serializers.DateTimeField(required=False, allow_null=True, default=None)
    initial_cash = serializers.DecimalField(
        max_digits=28, decimal_places=10, min_value=Decimal("1"), default=Decimal("10000")
    )
    commission = serializers.DecimalField(
        max_digits=12,
        decimal_places=8,
        min_value=Decimal("0"),
        max_value=Decimal("0.5"),
        default=DEFAULT_COSTS.commission,
    )
    slippage = serializers.DecimalField(
        max_digits=12,
        decimal_places=8,
        min_value=Decimal("0"),
        max_value=Decimal("0.5"),
        default=DEFAULT_COSTS.slippage,
    )
    fill_at = serializers.ChoiceField(choices=["next_open", "close"], default="next_open")
    engine = serializers.ChoiceField(choices=["auto", "event", "fast"], default="auto")

    def validate(self, attrs: dict) -> dict:  # type: ignore[type-arg]
        if attrs.get("start") and attrs.get("end") and attrs["start"] >= attrs["end"]:
            raise serializers.ValidationError({"end": "must be after start"})
        return attrs

    def to_request(self) -> BacktestRequest:
        data = dict(self.validated_data)
        return BacktestRequest(**{key: data[key] for key in BacktestRequest.__dataclass_fields__ if key in data})


class RunSerializer(BacktestRequestSerializer):
    symbol = serializers.CharField(max_length=32, required=False)
    symbols = serializers.ListField(
        child=serializers.CharField(max_length=32),
        required=False,
        min_length=1,
        max_length=10,
        help_text="two or more: one shared-cash portfolio backtest over these symbols",
    )
    wait = serializers.BooleanField(default=False, help_text="run inline and answer with the results")

    def validate(self, attrs: dict) -> dict:  # type: ignore[type-arg]
        attrs = super().validate(attrs)
        symbols = attrs.get("symbols")
        if symbols is None:
            if not attrs.get("symbol"):
                raise serializers.ValidationError({"symbol": "give symbol, or symbols for a portfolio"})
            attrs["symbols"] = ()
            return attrs
        if len(set(symbols)) != len(symbols):
            raise serializers.ValidationError({"symbols": "each symbol once"})
        if attrs.get("symbol") and attrs["symbol"] != symbols[0]:
            raise serializers.ValidationError({"symbol": "give symbol or symbols, not both"})
        attrs["symbol"] = symbols[0]
        attrs["symbols"] = tuple(symbols) if len(symbols) > 1 else ()
        return attrs


class OptimiseSerializer(BacktestRequestSerializer):
    method = serializers.ChoiceField(choices=["grid", "optuna"], default="grid")
    space = serializers.DictField(child=serializers.ListField(child=serializers.FloatField(), min_length=1))
    objective = serializers.ChoiceField(
        choices=["sharpe", "sortino", "calmar", "total_return_pct", "profit_factor", "sqn"], default="sharpe"
    )
    trials = serializers.IntegerField(min_value=1, max_value=5_000, default=50)
    batch = serializers.IntegerField(min_value=1, max_value=64, default=4)
    seed = serializers.IntegerField(default=0)


class MonteCarloSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    method = serializers.ChoiceField(
        choices=["trade_shuffle", "trade_resample", "return_bootstrap"], default="trade_shuffle"
    )
    simulations = serializers.IntegerField(min_value=10, max_value=100_000, default=1_000)
    block = serializers.IntegerField(min_value=1, max_value=10_000, default=24)
    seed = serializers.IntegerField(default=0)


class WalkForwardSerializer(BacktestRequestSerializer):
    space = serializers.DictField(child=serializers.ListField(child=serializers.FloatField(), min_length=1))
    in_sample_bars = serializers.IntegerField(min_value=50)
    out_of_sample_bars = serializers.IntegerField(min_value=10)
    objective = serializers.ChoiceField(
        choices=["sharpe", "sortino", "calmar", "total_return_pct", "profit_factor", "sqn"], default="sharpe"
    )
