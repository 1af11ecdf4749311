from django.db import models

from dsta.kernel.outbox import InboxEntryBase, OutboxEventBase


class OutboxEvent(OutboxEventBase):
    class Meta(OutboxEventBase.Meta):
        db_table = "outbox"


class InboxEntry(InboxEntryBase):
    class Meta(InboxEntryBase.Meta):
        db_table = "inbox"


class PaperAccount(models.Model):
    """The paper venue's settings and id sequence; its row is also the lock that serialises paper operations.

    The fee and slippage defaults are the backtest's cost model (contracts.DEFAULT_COSTS: 0.1%, no slippage)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    maker_fee = models.DecimalField(max_digits=10, decimal_places=8, default="0.001")
    taker_fee = models.DecimalField(max_digits=10, decimal_places=8, default="0.001")
    slippage_bps = models.DecimalField(max_digits=10, decimal_places=4, default="0")
    slippage_jitter_bps = models.DecimalField(max_digits=10, decimal_places=4, default="0")
    participation = models.DecimalField(max_digits=10, decimal_places=8, default="0.1")
    seed = models.BigIntegerField(default=0)
    market_fill = models.CharField(max_length=16, default="last_close")  # contracts.PaperMarketFill
    next_sequence = models.BigIntegerField(default=1)

    class Meta:
        db_table = "paper_account"

    def __str__(self) -> str:
        return f"paper account {self.id}"


class PaperBalance(models.Model):
    id = models.BigAutoField(primary_key=True)
    asset = models.CharField(max_length=20, unique=True)
    free = models.DecimalField(max_digits=38, decimal_places=18)
    used = models.DecimalField(max_digits=38, decimal_places=18)

    class Meta:
        db_table = "paper_balance"

    def __str__(self) -> str:
        return f"{self.asset} {self.free}+{self.used}"


class PaperOrder(models.Model):
    id = models.BigAutoField(primary_key=True)
    order_id = models.CharField(max_length=40, unique=True)
    client_order_id = models.CharField(max_length=64, unique=True)
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4)
    order_type = models.CharField(max_length=8)
    status = models.CharField(max_length=20)
    amount = models.DecimalField(max_digits=38, decimal_places=18)
    price = models.DecimalField(max_digits=38, decimal_places=18, null=True)
    filled = models.DecimalField(max_digits=38, decimal_places=18)
    cost = models.DecimalField(max_digits=38, decimal_places=18)
    fee = models.DecimalField(max_digits=38, decimal_places=18)
    reserved = models.DecimalField(max_digits=38, decimal_places=18)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "paper_order"
        indexes = [
            models.Index(
                fields=["symbol"], name="paper_order_open", condition=models.Q(status__in=["open", "partially_filled"])
            )
        ]

    def __str__(self) -> str:
        return f"{self.client_order_id} {self.side} {self.amount} {self.symbol} {self.status}"


class PaperFill(models.Model):
    id = models.BigAutoField(primary_key=True)
    fill_id = models.CharField(max_length=40, unique=True)
    order_id = models.CharField(max_length=40)
    client_order_id = models.CharField(max_length=64)
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4)
    price = models.DecimalField(max_digits=38, decimal_places=18)
    amount = models.DecimalField(max_digits=38, decimal_places=18)
    fee = models.DecimalField(max_digits=38, decimal_places=18)
    fee_asset = models.CharField(max_length=20)
    is_maker = models.BooleanField()
    timestamp = models.DateTimeField()

    class Meta:
        db_table = "paper_fill"
        indexes = [
            models.Index(fields=["symbol", "timestamp"], name="paper_fill_symbol_time"),
            models.Index(fields=["client_order_id"], name="paper_fill_order"),  # an order's fills, at confirm
        ]

    def __str__(self) -> str:
        return f"{self.fill_id} {self.amount}@{self.price}"


class PaperMarket(models.Model):
    """Last price and book fed to the paper venue per symbol, so fills after a restart see the same market."""

    id = models.BigAutoField(primary_key=True)
    symbol = models.CharField(max_length=32, unique=True)
    last_price = models.DecimalField(max_digits=38, decimal_places=18, null=True)
    book = models.JSONField(null=True)
    last_bar_time = models.DateTimeField(null=True)  # the newest candle fed: older ones are ignored

    class Meta:
        db_table = "paper_market"

    def __str__(self) -> str:
        return f"{self.symbol} {self.last_price}"


class OrderIntent(models.Model):
    """Journal of orders sent to a live venue, keyed by client order id: the idempotency record that lets a
    retried or repeated submit find the first order instead of opening a second one."""

    id = models.BigAutoField(primary_key=True)
    venue = models.CharField(max_length=20)
    client_order_id = models.CharField(max_length=64)
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4)
    order_type = models.CharField(max_length=8)
    amount = models.DecimalField(max_digits=38, decimal_places=18)
    price = models.DecimalField(max_digits=38, decimal_places=18, null=True)
    exchange_order_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "order_intent"
        constraints = [models.UniqueConstraint(fields=["venue", "client_order_id"], name="order_intent_once")]

    def __str__(self) -> str:
        return f"{self.venue} {self.client_order_id} -> {self.exchange_order_id or '?'}"


class LiveFill(models.Model):
    """Fills seen on a live venue, recorded once each so `exchange.fill` is published once per fill."""

    id = models.BigAutoField(primary_key=True)
    venue = models.CharField(max_length=20)
    fill_id = models.CharField(max_length=64)
    exchange_order_id = models.CharField(max_length=64)
    client_order_id = models.CharField(max_length=64, blank=True, default="")
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4)
    price = models.DecimalField(max_digits=38, decimal_places=18)
    amount = models.DecimalField(max_digits=38, decimal_places=18)
    fee = models.DecimalField(max_digits=38, decimal_places=18)
    fee_asset = models.CharField(max_length=20, blank=True, default="")
    is_maker = models.BooleanField()
    timestamp = models.DateTimeField()

    class Meta:
        db_table = "live_fill"
        constraints = [models.UniqueConstraint(fields=["venue", "fill_id"], name="live_fill_once")]

    def __str__(self) -> str:
        return f"{self.venue} {self.fill_id} {self.amount}@{self.price}"
