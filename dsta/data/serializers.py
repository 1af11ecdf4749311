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
