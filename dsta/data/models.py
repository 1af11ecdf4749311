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


class Candle(models.Model):
    """One OHLCV bar; `open_time` is the bar's start (UTC), as exchanges report it.

    The table is range-partitioned by month of `open_time` (migration 0002; a TimescaleDB hypertable where
    the extension is available), so the primary key must contain `open_time`: it is the series key itself.
    `is_synthetic` marks bars forward-filled where the exchange had nothing; analytics leave them out.
    """

    pk = models.CompositePrimaryKey("exchange", "symbol", "timeframe", "open_time")
    exchange = models.CharField(max_length=32, db_collation="C")  # byte order: cheap key comparisons
    symbol = models.CharField(max_length=32, db_collation="C")
    timeframe = models.CharField(max_length=8, db_collation="C")
    open_time = models.DateTimeField()
    open = models.DecimalField(max_digits=28, decimal_places=10)
    high = models.DecimalField(max_digits=28, decimal_places=10)
    low = models.DecimalField(max_digits=28, decimal_places=10)
    close = models.DecimalField(max_digits=28, decimal_places=10)
    volume = models.DecimalField(max_digits=38, decimal_places=12)
    is_synthetic = models.BooleanField(default=False, db_default=False)

    class Meta:
        db_table = "candle"

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
    symbols = models.JSONField(default=list, blank=True)  # a shared-cash portfolio's symbols (2 or more)
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
    symbol = models.CharField(max_length=32, blank=True, default="")
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


class CandleGap(models.Model):
    """A run of missing bars on a series' expected grid, from `first_missing` to `last_missing` inclusive."""

    class Status(models.TextChoices):
        OPEN = "open"
        FILLED = "filled"

    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=32)
    timeframe = models.CharField(max_length=8)
    first_missing = models.DateTimeField()
    last_missing = models.DateTimeField()
    missing = models.PositiveIntegerField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    filled_from_exchange = models.PositiveIntegerField(default=0)
    filled_synthetic = models.PositiveIntegerField(default=0)
    detected_at = models.DateTimeField(default=utc_now)
    filled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "candle_gap"
        constraints = [
            models.UniqueConstraint(
                fields=["exchange", "symbol", "timeframe", "first_missing"], name="candle_gap_series_start_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.timeframe}: {self.missing} missing from {self.first_missing:%Y-%m-%d %H:%M}"


class IngestionJob(models.Model):
    """A backfill or incremental sync of one series from the exchange; `cursor` is the next bar to fetch.

    The cursor moves in the same transaction as the bars it covers, so a job killed mid-way resumes where its
    last committed page ended and re-fetching a page never duplicates a bar.
    """

    class Mode(models.TextChoices):
        BACKFILL = "backfill"
        INCREMENTAL = "incremental"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=32)
    timeframe = models.CharField(max_length=8)
    mode = models.CharField(max_length=12, choices=Mode.choices)
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    cursor = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    pages = models.PositiveIntegerField(default=0)
    bars_written = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=utc_now)
    updated_at = models.DateTimeField(default=utc_now)

    class Meta:
        db_table = "ingestion_job"

    def __str__(self) -> str:
        return f"{self.mode} {self.exchange} {self.symbol} {self.timeframe} ({self.status})"


class OrderBookSnapshot(models.Model):
    """Bids and asks as `[[price, amount], ...]` with decimal strings, best level first."""

    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=32)
    taken_at = models.DateTimeField()
    bids = models.JSONField()
    asks = models.JSONField()

    class Meta:
        db_table = "order_book_snapshot"
        indexes = [models.Index(fields=["exchange", "symbol", "-taken_at"], name="order_book_latest")]

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} book at {self.taken_at:%Y-%m-%d %H:%M:%S}"


class Ticker(models.Model):
    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=32)
    taken_at = models.DateTimeField()
    bid = models.DecimalField(max_digits=28, decimal_places=10, null=True, blank=True)
    ask = models.DecimalField(max_digits=28, decimal_places=10, null=True, blank=True)
    last = models.DecimalField(max_digits=28, decimal_places=10)
    base_volume = models.DecimalField(max_digits=38, decimal_places=12, null=True, blank=True)

    class Meta:
        db_table = "ticker"
        indexes = [models.Index(fields=["exchange", "symbol", "-taken_at"], name="ticker_latest")]

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} ticker at {self.taken_at:%Y-%m-%d %H:%M:%S}"


class Report(models.Model):
    """An analytics report rendered by a worker; `path` names the HTML file in the reports storage."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    exchange = models.CharField(max_length=32)
    symbols = models.JSONField()
    timeframe = models.CharField(max_length=8)
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    path = models.CharField(max_length=300, blank=True, default="")
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=utc_now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "report"

    def __str__(self) -> str:
        return f"report {self.id} ({self.status})"


class TrackedMarket(models.Model):
    """A market some part of the platform needs kept current, as its owner declared it (trading's enabled
    strategy instances declare theirs through `data.api.markets_track`). The live feed follows the union."""

    id = models.BigAutoField(primary_key=True)
    owner = models.CharField(max_length=64)
    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=32)
    timeframe = models.CharField(max_length=8)
    created_at = models.DateTimeField(default=utc_now)

    class Meta:
        db_table = "tracked_market"
        constraints = [
            models.UniqueConstraint(fields=["owner", "exchange", "symbol", "timeframe"], name="tracked_market_unique")
        ]

    def __str__(self) -> str:
        return f"{self.owner}: {self.exchange} {self.symbol} {self.timeframe}"


class MarketFeed(models.Model):
    """The live feed's cursor per market: the newest stored bar (moved in the transaction that stores bars),
    and the outcome of the last fetch."""

    id = models.BigAutoField(primary_key=True)
    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=32)
    timeframe = models.CharField(max_length=8)
    last_bar_time = models.DateTimeField(null=True)
    fetched_at = models.DateTimeField(null=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "market_feed"
        constraints = [models.UniqueConstraint(fields=["exchange", "symbol", "timeframe"], name="market_feed_unique")]

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.timeframe} at {self.last_bar_time}"
