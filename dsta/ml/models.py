import uuid

from django.db import models

from dsta.kernel.clock import utc_now
from dsta.kernel.outbox import InboxEntryBase, OutboxEventBase


class OutboxEvent(OutboxEventBase):
    class Meta(OutboxEventBase.Meta):
        db_table = "outbox"


class InboxEntry(InboxEntryBase):
    class Meta(InboxEntryBase.Meta):
        db_table = "inbox"


class FeatureSet(models.Model):
    """A shipped feature-set definition, recorded so stored matrices and models can name it."""

    name = models.CharField(max_length=60)
    version = models.PositiveIntegerField()
    indicators = models.JSONField()
    created_at = models.DateTimeField(default=utc_now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="ml_feature_set_version")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class FeatureMatrix(models.Model):
    """Features of one series under one feature-set version: times (int64 µs) and values (float32,
    row-major) as bytes, so a year of hourly rows is one row here and one read."""

    exchange = models.CharField(max_length=40)
    symbol = models.CharField(max_length=40)
    timeframe = models.CharField(max_length=8)
    feature_set = models.ForeignKey(FeatureSet, on_delete=models.PROTECT, related_name="matrices")
    columns = models.JSONField()
    open_times = models.BinaryField()
    values = models.BinaryField()
    rows = models.PositiveIntegerField()
    computed_at = models.DateTimeField(default=utc_now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["exchange", "symbol", "timeframe", "feature_set"], name="ml_feature_matrix_series"
            )
        ]

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.timeframe} {self.feature_set_id}"


class TrainingJob(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=30)
    model_name = models.CharField(max_length=100)
    exchange = models.CharField(max_length=40)
    symbol = models.CharField(max_length=40)
    timeframe = models.CharField(max_length=8)
    feature_set = models.CharField(max_length=60)
    feature_set_version = models.PositiveIntegerField()
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    metrics = models.JSONField(default=dict)
    error = models.TextField(blank=True, default="")
    model_id = models.BigIntegerField(null=True, blank=True)
    requested_by = models.BigIntegerField(null=True, blank=True)  # core user id (no FK across domains)
    created_at = models.DateTimeField(default=utc_now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.model_name} {self.status}"


class MLModel(models.Model):
    class Status(models.TextChoices):
        STAGING = "staging"
        PRODUCTION = "production"
        ARCHIVED = "archived"

    name = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=30)
    exchange = models.CharField(max_length=40)
    symbol = models.CharField(max_length=40)
    timeframe = models.CharField(max_length=8)
    feature_set = models.CharField(max_length=60)
    feature_set_version = models.PositiveIntegerField()
    feature_columns = models.JSONField()
    metrics = models.JSONField(default=dict)
    artefact_path = models.CharField(max_length=500)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.STAGING)
    training_job_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(default=utc_now)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="ml_model_version"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(status="production"), name="ml_model_one_production"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.status})"


class ABSplit(models.Model):
    """Predictions by `name` go to version B with probability `share_b`, else to version A."""

    name = models.CharField(max_length=100, unique=True)
    model_a = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="+")
    model_b = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="+")
    share_b = models.FloatField()
    created_at = models.DateTimeField(default=utc_now)

    def __str__(self) -> str:
        return f"{self.name}: {self.model_a_id} / {self.model_b_id} ({self.share_b:.0%} B)"


class Prediction(models.Model):
    class Source(models.TextChoices):
        REQUEST = "request"
        LIVE = "live"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="predictions")
    exchange = models.CharField(max_length=40)
    symbol = models.CharField(max_length=40)
    timeframe = models.CharField(max_length=8)
    bar_time = models.DateTimeField()
    label = models.CharField(max_length=40)
    probability = models.FloatField(null=True, blank=True)
    output = models.JSONField(default=dict)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.REQUEST)
    arm = models.CharField(max_length=1, blank=True, default="")  # "a" or "b" when an A/B split chose the model
    created_at = models.DateTimeField(default=utc_now)

    class Meta:
        indexes = [models.Index(fields=["model", "-created_at"], name="ml_prediction_recent")]
        constraints = [
            # A redelivered candle event cannot make a second live prediction for the same model and bar.
            models.UniqueConstraint(
                fields=["model", "exchange", "symbol", "timeframe", "bar_time"],
                condition=models.Q(source="live"),
                name="ml_prediction_live_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_id} {self.symbol} {self.bar_time:%Y-%m-%d %H:%M} {self.label}"


class LiveMarket(models.Model):
    """A market a model predicts live on besides the one it was trained on: kept while a trading instance that
    trades its predictions (ml_signal) is not stopped there, from trading's `trading.bot_state_changed`."""

    instance_id = models.BigIntegerField(primary_key=True)  # trading's strategy instance (no FK across domains)
    model_name = models.CharField(max_length=100)
    exchange = models.CharField(max_length=40)
    symbol = models.CharField(max_length=40)
    timeframe = models.CharField(max_length=8)
    updated_at = models.DateTimeField(default=utc_now)

    class Meta:
        indexes = [models.Index(fields=["exchange", "symbol", "timeframe"], name="ml_live_market_series")]

    def __str__(self) -> str:
        return f"{self.model_name} on {self.exchange} {self.symbol} {self.timeframe} (instance {self.instance_id})"
