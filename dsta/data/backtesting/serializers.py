from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from dsta.data.contracts import TIMEFRAME_SECONDS, BacktestRequest, BacktestStatus
from dsta.exchange.contracts import DEFAULT_COSTS

NUMBER = serializers.FloatField()
BACKTEST_STATUSES = [status.value for status in BacktestStatus]  # the schema's BacktestStatusEnum


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


# --- responses ----------------------------------------------------------------------------------------------
# The bodies the views build from the contracts (dataclasses as JSON), for the OpenAPI schema; they render
# nothing. Decimals left in a contract (cash, costs, trade quantities and prices) go out as JSON numbers.


class StrategyParameterSpecSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["int", "float"])
    default = serializers.FloatField()
    minimum = serializers.FloatField()
    maximum = serializers.FloatField()
    description = serializers.CharField(allow_blank=True)


class StrategySpecSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    parameters = StrategyParameterSpecSerializer(many=True)
    vectorised = serializers.BooleanField(help_text="has a fast path")
    source = serializers.ChoiceField(choices=["builtin", "file", "package"])
    origin = serializers.CharField(allow_blank=True, help_text="the file that defines it, or the distribution")
    inputs = serializers.ListField(child=serializers.CharField(), help_text="per-bar series it needs from outside")


class StrategyLoadProblemSerializer(serializers.Serializer):
    origin = serializers.CharField()
    line = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()


class StrategiesSerializer(serializers.Serializer):
    strategies = StrategySpecSerializer(many=True)
    problems = StrategyLoadProblemSerializer(many=True, help_text="files and packages that failed to load")


class BacktestRequestEchoSerializer(serializers.Serializer):
    """The request a job runs, as stored (its input series by name only)."""

    strategy = serializers.CharField()
    params = serializers.DictField(child=serializers.FloatField())
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    start = serializers.DateTimeField(allow_null=True)
    end = serializers.DateTimeField(allow_null=True)
    initial_cash = serializers.FloatField()
    commission = serializers.FloatField()
    slippage = serializers.FloatField()
    fill_at = serializers.CharField()
    engine = serializers.CharField()
    symbols = serializers.ListField(child=serializers.CharField(), help_text="a portfolio's symbols (else empty)")
    inputs = serializers.ListField(child=serializers.CharField(), help_text="names of the series read from outside")


class BacktestSummarySerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    kind = serializers.CharField()
    status = serializers.ChoiceField(choices=BACKTEST_STATUSES)
    request = BacktestRequestEchoSerializer()
    progress = serializers.FloatField()
    metrics = serializers.DictField(
        child=serializers.FloatField(), allow_null=True, help_text="null until there is a result"
    )
    engine_used = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    report_available = serializers.BooleanField()
    strategy_version = serializers.CharField(allow_blank=True)


class BacktestTradeSerializer(serializers.Serializer):
    entry_time = serializers.DateTimeField()
    exit_time = serializers.DateTimeField()
    side = serializers.CharField()
    qty = serializers.FloatField()
    entry_price = serializers.FloatField()
    exit_price = serializers.FloatField()
    pnl = serializers.FloatField()
    return_pct = serializers.FloatField()
    fees = serializers.FloatField()
    exit_reason = serializers.CharField(allow_blank=True)
    symbol = serializers.CharField(allow_blank=True)


class BacktestResultsSerializer(BacktestSummarySerializer):
    # Free-form on purpose: what the engine and optimiser found worth storing (block moments, lookahead,
    # overfitting checks...), a different set per kind of job; {} while there is no result.
    analysis = serializers.DictField()
    trades_total = serializers.IntegerField()
    trades = BacktestTradeSerializer(many=True, help_text="the first `trades` of them")
    equity_curve = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
        required=False,
        help_text="[epoch ms, equity] pairs, strided to about `equity_points`; absent until there is a result",
    )


class MonteCarloResultSerializer(serializers.Serializer):
    method = serializers.CharField()
    simulations = serializers.IntegerField()
    final_equity = serializers.DictField(child=serializers.FloatField(), help_text="percentile -> final equity")
    max_drawdown_pct = serializers.DictField(
        child=serializers.FloatField(), help_text="percentile -> max drawdown, percent"
    )
    probability_of_loss = serializers.FloatField()


class WalkForwardWindowSerializer(serializers.Serializer):
    in_sample = serializers.ListField(
        child=serializers.IntegerField(), min_length=2, max_length=2, help_text="bar index range [start, end)"
    )
    out_of_sample = serializers.ListField(child=serializers.IntegerField(), min_length=2, max_length=2)
    best_params = serializers.DictField(child=serializers.FloatField())
    in_sample_score = serializers.FloatField()
    out_of_sample_return_pct = serializers.FloatField()


class WalkForwardResultSerializer(serializers.Serializer):
    strategy = serializers.CharField()
    out_of_sample_return_pct = serializers.FloatField()
    windows = WalkForwardWindowSerializer(many=True)
    stitched_equity = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
        help_text="[epoch ms, equity] pairs of the out-of-sample equity, strided to about 1000",
    )
