"""Request validation of the ml endpoints (responses are the facade's dataclasses, as JSON)."""

from __future__ import annotations

from rest_framework import serializers

from dsta.data.contracts import TIMEFRAME_SECONDS
from dsta.ml import kinds
from dsta.ml.contracts import MODEL_NAME_PATTERN

TIMEFRAMES = sorted(TIMEFRAME_SECONDS)


class SeriesSerializer(serializers.Serializer):
    exchange = serializers.CharField(max_length=40, default="binance")
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES, default="1h")
    feature_set = serializers.CharField(max_length=60, default="core")
    version = serializers.IntegerField(min_value=1, default=1)


class FeaturesQuerySerializer(SeriesSerializer):
    limit = serializers.IntegerField(min_value=1, max_value=10_000, default=500)


class FeaturesExtractSerializer(SeriesSerializer):
    symbol = serializers.CharField(max_length=40)
    start = serializers.DateTimeField(required=False, allow_null=True, default=None)
    end = serializers.DateTimeField(required=False, allow_null=True, default=None)


class TrainSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=kinds.names())
    model_name = serializers.RegexField(
        MODEL_NAME_PATTERN, error_messages={"invalid": "letters, digits, _ . - only, starting with a letter or digit"}
    )
    exchange = serializers.CharField(max_length=40, default="binance")
    symbol = serializers.CharField(max_length=40)
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES, default="1h")
    feature_set = serializers.CharField(max_length=60, default="core")
    feature_set_version = serializers.IntegerField(min_value=1, default=1)
    params = serializers.DictField(default=dict)
    wait = serializers.BooleanField(default=False)


class PredictSerializer(serializers.Serializer):
    model_id = serializers.IntegerField(required=False, allow_null=True, default=None)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    exchange = serializers.CharField(max_length=40, required=False, allow_null=True, default=None)
    symbol = serializers.CharField(max_length=40, required=False, allow_null=True, default=None)
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES, required=False, allow_null=True, default=None)
    at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate(self, attrs: dict) -> dict:
        if attrs["model_id"] is None and not attrs["name"]:
            raise serializers.ValidationError({"model_id": ["give model_id or name"]})
        return attrs


class PredictBatchSerializer(serializers.Serializer):
    requests = PredictSerializer(many=True, allow_empty=False, max_length=500)


class ModelsQuerySerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, default=None)


class RollbackSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class ImportanceQuerySerializer(serializers.Serializer):
    model_id = serializers.IntegerField(required=False, default=None)
    name = serializers.CharField(max_length=100, required=False, default="")

    def validate(self, attrs: dict) -> dict:
        if attrs["model_id"] is None and not attrs["name"]:
            raise serializers.ValidationError({"model_id": ["give model_id or name"]})
        return attrs


class ABSplitSerializer(serializers.Serializer):
    model_a = serializers.IntegerField()
    model_b = serializers.IntegerField()
    share_b = serializers.FloatField(min_value=0, max_value=1)
