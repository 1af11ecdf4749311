from typing import Any

from rest_framework import serializers

from dsta.data.contracts import TIMEFRAME_SECONDS

TIMEFRAMES = sorted(TIMEFRAME_SECONDS, key=TIMEFRAME_SECONDS.__getitem__)


class SeriesSummarySerializer(serializers.Serializer):
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    candles = serializers.IntegerField()
    first_open_time = serializers.DateTimeField()
    last_open_time = serializers.DateTimeField()


# --- query parameters ---------------------------------------------------------------------------------------


class SeriesQuerySerializer(serializers.Serializer):
    exchange = serializers.CharField(max_length=32, default="binance")
    symbol = serializers.CharField(max_length=32)
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES)


class RangeQuerySerializer(SeriesQuerySerializer):
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)

    def validate(self, attrs):  # type: ignore[no-untyped-def]
        if attrs.get("start") and attrs.get("end") and attrs["start"] >= attrs["end"]:
            raise serializers.ValidationError({"end": "must be after start"})
        return attrs


class OhlcvQuerySerializer(RangeQuerySerializer):
    symbol = serializers.CharField(max_length=32, required=False)  # taken from the path
    limit = serializers.IntegerField(min_value=1, max_value=10_000, default=1_000)


class VenueQuerySerializer(serializers.Serializer):
    exchange = serializers.CharField(max_length=32, default="binance")


class QualityQuerySerializer(SeriesQuerySerializer):
    outlier_z = serializers.FloatField(min_value=1.0, default=10.0)


class PerformanceQuerySerializer(RangeQuerySerializer):
    risk_free = serializers.FloatField(min_value=-1.0, max_value=1.0, default=0.0)


class EquityCurveQuerySerializer(RangeQuerySerializer):
    initial = serializers.DecimalField(max_digits=20, decimal_places=2, min_value=1, default="10000")
    max_points = serializers.IntegerField(min_value=2, max_value=100_000, default=2_000)


class SharpeQuerySerializer(PerformanceQuerySerializer):
    window = serializers.IntegerField(min_value=2, required=False)


class CorrelationQuerySerializer(serializers.Serializer):
    exchange = serializers.CharField(max_length=32, default="binance")
    symbols = serializers.CharField(help_text="comma-separated, e.g. BTC/USDT,ETH/USDT")
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES)
    window = serializers.IntegerField(min_value=3, default=288)
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)

    def validate_symbols(self, value: str) -> list[str]:
        symbols = [symbol.strip() for symbol in value.split(",") if symbol.strip()]
        if len(symbols) < 2 or len(set(symbols)) != len(symbols):
            raise serializers.ValidationError("give at least two different symbols")
        return symbols


# --- request bodies -----------------------------------------------------------------------------------------


class SyncRequestSerializer(serializers.Serializer):
    exchange = serializers.CharField(max_length=32)
    symbol = serializers.CharField(max_length=32)
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES)
    mode = serializers.ChoiceField(choices=["backfill", "incremental"])
    start = serializers.DateTimeField(required=False, allow_null=True, default=None)
    end = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate(self, attrs):  # type: ignore[no-untyped-def]
        if attrs["mode"] == "backfill" and attrs["start"] is None:
            raise serializers.ValidationError({"start": "a backfill needs a start"})
        if attrs["start"] and attrs["end"] and attrs["start"] >= attrs["end"]:
            raise serializers.ValidationError({"end": "must be after start"})
        return attrs


class GapFillRequestSerializer(serializers.Serializer):
    exchange = serializers.CharField(max_length=32)
    symbol = serializers.CharField(max_length=32)
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES)
    start = serializers.DateTimeField(required=False, allow_null=True, default=None)
    end = serializers.DateTimeField(required=False, allow_null=True, default=None)


class ReportRequestSerializer(serializers.Serializer):
    exchange = serializers.CharField(max_length=32, default="binance")
    symbols = serializers.ListField(child=serializers.CharField(max_length=32), min_length=1, max_length=10)
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES)
    start = serializers.DateTimeField(required=False, allow_null=True, default=None)
    end = serializers.DateTimeField(required=False, allow_null=True, default=None)


# --- responses ----------------------------------------------------------------------------------------------
# What the views answer, for the OpenAPI schema. The views build their bodies from the contracts (dataclasses as
# JSON); these describe those bodies and render nothing. A Decimal the view turns into a string is a decimal
# string here; one left in a contract goes out as a JSON number (DRF's encoder), so it is a number here.


def decimal_string(**options: Any) -> serializers.DecimalField:
    """A Decimal the view writes with str(): any precision, so no digit pattern."""
    return serializers.DecimalField(max_digits=None, decimal_places=None, **options)


class CandleSerializer(serializers.Serializer):
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    open_time = serializers.DateTimeField()
    open = decimal_string()
    high = decimal_string()
    low = decimal_string()
    close = decimal_string()
    volume = decimal_string()


class OrderBookSerializer(serializers.Serializer):
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    taken_at = serializers.DateTimeField()
    bids = serializers.ListField(
        child=serializers.ListField(child=decimal_string(), min_length=2, max_length=2),
        help_text="[price, amount] levels, best first",
    )
    asks = serializers.ListField(
        child=serializers.ListField(child=decimal_string(), min_length=2, max_length=2),
        help_text="[price, amount] levels, best first",
    )


class TickerSerializer(serializers.Serializer):
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    taken_at = serializers.DateTimeField()
    last = decimal_string()
    bid = decimal_string(allow_null=True)
    ask = decimal_string(allow_null=True)
    base_volume = decimal_string(allow_null=True)


class GapSpanSerializer(serializers.Serializer):
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    first_missing = serializers.DateTimeField()
    last_missing = serializers.DateTimeField()
    missing = serializers.IntegerField()
    status = serializers.CharField()
    filled_from_exchange = serializers.IntegerField()
    filled_synthetic = serializers.IntegerField()


class GapsSerializer(serializers.Serializer):
    gaps = GapSpanSerializer(many=True)
    missing = serializers.IntegerField(help_text="bars missing over every gap")


class GapsFilledSerializer(serializers.Serializer):
    filled = GapSpanSerializer(many=True)


class QualityExampleSerializer(serializers.Serializer):
    open_time = serializers.DateTimeField()
    detail = serializers.CharField()


class QualityRuleSerializer(serializers.Serializer):
    rule = serializers.CharField()
    description = serializers.CharField()
    violations = serializers.IntegerField()
    examples = QualityExampleSerializer(many=True)


class QualityReportSerializer(serializers.Serializer):
    source = serializers.CharField()
    timeframe = serializers.CharField()
    rows = serializers.IntegerField()
    rules = QualityRuleSerializer(many=True)
    clean = serializers.BooleanField(help_text="no rule has a violation")


class IngestionJobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    mode = serializers.CharField()
    status = serializers.CharField()
    cursor = serializers.DateTimeField(allow_null=True)
    pages = serializers.IntegerField()
    bars_written = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)


def _ratio() -> serializers.FloatField:
    # JSON has no Infinity/NaN: an unbounded ratio (no losses, no drawdown) is null.
    return serializers.FloatField(allow_null=True)


class PerformanceMetricsSerializer(serializers.Serializer):
    periods = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    total_return = _ratio()
    annualised_return = _ratio()
    volatility = _ratio()
    sharpe = _ratio()
    sortino = _ratio()
    calmar = _ratio()
    max_drawdown = _ratio()
    max_drawdown_duration_seconds = serializers.IntegerField()
    win_rate = _ratio()
    profit_factor = _ratio()
    expectancy = _ratio()
    exposure = _ratio()
    risk_free = _ratio()


class EquityPointSerializer(serializers.Serializer):
    time = serializers.DateTimeField()
    equity = decimal_string()
    drawdown = serializers.FloatField()


class SharpeSerializer(serializers.Serializer):
    sharpe = _ratio()
    rolling_sharpe = _ratio()
    window = serializers.IntegerField(allow_null=True, help_text="the rolling window asked for (null: none)")


class CorrelationMatrixSerializer(serializers.Serializer):
    exchange = serializers.CharField()
    timeframe = serializers.CharField()
    symbols = serializers.ListField(child=serializers.CharField())
    window = serializers.IntegerField()
    as_of = serializers.DateTimeField()
    bars = serializers.IntegerField()
    rolling = serializers.ListField(child=serializers.ListField(child=serializers.FloatField()))
    full_period = serializers.ListField(child=serializers.ListField(child=serializers.FloatField()))


class ReportAcceptedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()


class ReportInfoSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    exchange = serializers.CharField()
    symbols = serializers.ListField(child=serializers.CharField())
    timeframe = serializers.CharField()
    path = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)
    html = serializers.CharField(help_text="where the rendered report is served")
