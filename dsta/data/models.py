import uuid

from django.db import models

from dsta.kernel.outbox import InboxEntryBase, OutboxEventBase


class OutboxEvent(OutboxEventBase):
    class Meta(OutboxEventBase.Meta):
        db_table = "outbox"


class InboxEntry(InboxEntryBase):
    class Meta(InboxEntryBase.Meta):
        db_table = "inbox"


class Candle(models.Model):
    """One OHLCV bar; `open_time` is the bar's start (UTC), as exchanges report it."""

    id = models.BigAutoField(primary_key=True)
    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=32)
    timeframe = models.CharField(max_length=8)
    open_time = models.DateTimeField()
    open = models.DecimalField(max_digits=28, decimal_places=10)
    high = models.DecimalField(max_digits=28, decimal_places=10)
    low = models.DecimalField(max_digits=28, decimal_places=10)
    close = models.DecimalField(max_digits=28, decimal_places=10)
    volume = models.DecimalField(max_digits=38, decimal_places=12)

    class Meta:
        db_table = "candle"
        constraints = [
            models.UniqueConstraint(
                fields=["exchange", "symbol", "timeframe", "open_time"], name="candle_series_time_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.timeframe} {self.open_time:%Y-%m-%d %H:%M}"


class BacktestJob(models.Model):
    """One backtest, or one analysis (optimisation, walk-forward, Monte Carlo) whose trials are children."""

    class Kind(models.TextChoices):
        SINGLE = "single"
        OPTIMISATION = "optimisation"
        TRIAL = "trial"
        WALK_FORWARD = "walk_forward"
        MONTE_CARLO = "monte_carlo"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SINGLE)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="trials")
    user_id = models.BigIntegerField(null=True, blank=True)  # core's user, by plain id
    strategy = models.CharField(max_length=64)
    params = models.JSONField(default=dict)
    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=32)
    timeframe = models.CharField(max_length=8)
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    initial_cash = models.DecimalField(max_digits=28, decimal_places=10)
    commission = models.DecimalField(max_digits=12, decimal_places=8)
    slippage = models.DecimalField(max_digits=12, decimal_places=8)
    fill_at = models.CharField(max_length=12, default="next_open")
    engine = models.CharField(max_length=8, default="auto")
    engine_used = models.CharField(max_length=12, blank=True, default="")
    options = models.JSONField(default=dict, blank=True)  # analysis settings (grid, windows, simulations)
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "backtest_job"
        indexes = [models.Index(fields=["parent", "status"], name="backtest_job_parent_status")]

    def __str__(self) -> str:
        return f"{self.kind} {self.strategy} {self.symbol} {self.timeframe} ({self.status})"


class BacktestResult(models.Model):
    job = models.OneToOneField(BacktestJob, primary_key=True, on_delete=models.CASCADE, related_name="result")
    metrics = models.JSONField(default=dict)
    analysis = models.JSONField(default=dict, blank=True)  # optimisation table, bands, OOS figures …
    equity = models.BinaryField(default=b"")  # float64 per bar, little-endian
    bar_times = models.BinaryField(default=b"")  # int64 ms per bar
    report_path = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        db_table = "backtest_result"

    def __str__(self) -> str:
        return f"result of {self.job_id}"


class BacktestTrade(models.Model):
    id = models.BigAutoField(primary_key=True)
    job = models.ForeignKey(BacktestJob, on_delete=models.CASCADE, related_name="trades")
    sequence = models.PositiveIntegerField()
    side = models.CharField(max_length=5)
    entry_time = models.DateTimeField()
    exit_time = models.DateTimeField()
    qty = models.DecimalField(max_digits=38, decimal_places=18)
    entry_price = models.DecimalField(max_digits=28, decimal_places=10)
    exit_price = models.DecimalField(max_digits=28, decimal_places=10)
    pnl = models.DecimalField(max_digits=28, decimal_places=10)
    return_pct = models.FloatField()
    fees = models.DecimalField(max_digits=28, decimal_places=10)
    exit_reason = models.CharField(max_length=16)

    class Meta:
        db_table = "backtest_trade"
        constraints = [models.UniqueConstraint(fields=["job", "sequence"], name="backtest_trade_sequence")]

    def __str__(self) -> str:
        return f"{self.side} {self.entry_time:%Y-%m-%d %H:%M} -> {self.exit_time:%Y-%m-%d %H:%M}"
