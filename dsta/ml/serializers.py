"""Request validation of the ml endpoints, and the shapes of their responses (the facade's dataclasses, as JSON)."""

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


# --- responses ----------------------------------------------------------------------------------------------
# The facade's dataclasses as the views answer them, for the OpenAPI schema; they render nothing. A model
# kind's parameters, metrics and prediction output are free-form (each kind in dsta/ml/kinds has its own).


class FeatureMatrixInfoSerializer(serializers.Serializer):
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    feature_set = serializers.CharField()
    feature_set_version = serializers.IntegerField()
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.IntegerField()
    first_time = serializers.DateTimeField(allow_null=True)
    last_time = serializers.DateTimeField(allow_null=True)
    computed_at = serializers.DateTimeField()


class FeaturesSerializer(serializers.Serializer):
    info = FeatureMatrixInfoSerializer()
    # One object per bar: `open_time`, then one number (null where undefined) per column named in info.columns;
    # the columns are the feature set's, so the row has no fixed shape.
    rows = serializers.ListField(child=serializers.DictField())


class TrainingJobStatusSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    kind = serializers.CharField()
    model_name = serializers.CharField()
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    feature_set = serializers.CharField()
    feature_set_version = serializers.IntegerField()
    params = serializers.DictField(help_text="the kind's training parameters (free-form)")
    status = serializers.CharField()
    error = serializers.CharField(allow_blank=True)
    model_id = serializers.IntegerField(allow_null=True, help_text="the model it registered, once it succeeded")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class TrainingJobSerializer(TrainingJobStatusSerializer):
    metrics = serializers.DictField(help_text="what the kind measured (free-form)")


class TrainingMetricsSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    status = serializers.CharField()
    model_id = serializers.IntegerField(allow_null=True)
    metrics = serializers.DictField(help_text="what the kind measured (free-form)")


class ModelInfoSerializer(serializers.Serializer):
    model_id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    kind = serializers.CharField()
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    feature_set = serializers.CharField()
    feature_set_version = serializers.IntegerField()
    feature_columns = serializers.ListField(child=serializers.CharField())
    metrics = serializers.DictField(help_text="what the kind measured (free-form)")
    artefact = serializers.CharField(help_text="the artefact file, relative to the models folder")
    status = serializers.CharField()
    training_job_id = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()
    promoted_at = serializers.DateTimeField(allow_null=True)


class FeatureImportanceSerializer(serializers.Serializer):
    feature = serializers.CharField()
    importance = serializers.FloatField(help_text="mean accuracy lost when the feature is shuffled")
    std = serializers.FloatField()


class ImportanceSerializer(serializers.Serializer):
    model_id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    importance = FeatureImportanceSerializer(many=True, help_text="most important first")


class PredictionSerializer(serializers.Serializer):
    prediction_id = serializers.UUIDField()
    model_id = serializers.IntegerField()
    model_name = serializers.CharField()
    model_version = serializers.IntegerField()
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    bar_time = serializers.DateTimeField()
    label = serializers.CharField()
    probability = serializers.FloatField(allow_null=True)
    output = serializers.DictField(help_text="the kind's full output (free-form)")
    source = serializers.ChoiceField(choices=["request", "live"])
    arm = serializers.ChoiceField(choices=["a", "b", ""], help_text="the A/B arm that chose the version, if any")
    created_at = serializers.DateTimeField()


class PredictBatchItemSerializer(serializers.Serializer):
    """Either `prediction` or `errors` (the field errors that prevented it)."""

    prediction = PredictionSerializer(required=False)
    errors = serializers.DictField(required=False)


class PredictBatchResultSerializer(serializers.Serializer):
    results = PredictBatchItemSerializer(many=True, help_text="one per request, in order")


class ABSplitInfoSerializer(serializers.Serializer):
    name = serializers.CharField()
    model_a_id = serializers.IntegerField()
    model_b_id = serializers.IntegerField()
    share_b = serializers.FloatField()
