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
