from django.db import models

from dsta.kernel.outbox import InboxEntryBase, OutboxEventBase


class OutboxEvent(OutboxEventBase):
    class Meta(OutboxEventBase.Meta):
        db_table = "outbox"


class InboxEntry(InboxEntryBase):
    class Meta(InboxEntryBase.Meta):
        db_table = "inbox"


class MarkPrice(models.Model):
    """Latest close per market, fed by `data.candle_closed`; positions are marked to it."""

    id = models.BigAutoField(primary_key=True)
    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=32)
    price = models.DecimalField(max_digits=28, decimal_places=10)
    as_of = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "mark_price"
        constraints = [models.UniqueConstraint(fields=["exchange", "symbol"], name="mark_price_market_unique")]

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.price}"
