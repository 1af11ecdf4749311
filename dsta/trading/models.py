from decimal import Decimal

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


class RiskLimitSet(models.Model):
    """A version of the risk limits. Edits append a new version; the newest one is in force."""

    version = models.PositiveIntegerField(primary_key=True)
    max_order_notional = models.DecimalField(max_digits=28, decimal_places=10)
    max_position_notional = models.DecimalField(max_digits=28, decimal_places=10)
    max_total_exposure = models.DecimalField(max_digits=28, decimal_places=10)
    max_open_orders = models.PositiveIntegerField()
    price_band_pct = models.DecimalField(max_digits=8, decimal_places=4)
    max_orders_per_minute = models.PositiveIntegerField()
    max_drawdown_pct = models.DecimalField(max_digits=8, decimal_places=4)
    # the account capital the drawdown is measured on: equity = capital + realised + unrealised P&L
    drawdown_capital = models.DecimalField(max_digits=28, decimal_places=10, default=100000)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by_id = models.BigIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        db_table = "risk_limit_set"

    def __str__(self) -> str:
        return f"risk limits v{self.version}"


class RiskViolation(models.Model):
    id = models.BigAutoField(primary_key=True)
    rule = models.CharField(max_length=40)
    message = models.CharField(max_length=300)
    limit = models.CharField(max_length=60, blank=True, default="")
    actual = models.CharField(max_length=60, blank=True, default="")
    symbol = models.CharField(max_length=32, blank=True, default="")
    limits_version = models.PositiveIntegerField()
    context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "risk_violation"
        indexes = [models.Index(fields=["-created_at"], name="risk_violation_recent")]

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


class CircuitBreaker(models.Model):
    """One row: when open, no new order passes the risk check."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    is_open = models.BooleanField(default=False)
    reason = models.CharField(max_length=300, blank=True, default="")
    changed_at = models.DateTimeField(auto_now=True)
    changed_by_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "circuit_breaker"

    def __str__(self) -> str:
        return "open" if self.is_open else "closed"


class BotMode(models.TextChoices):
    PAPER = "paper"
    LIVE = "live"


class BotState(models.TextChoices):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class StrategyInstance(models.Model):
    """A strategy configured to run on one market: validated parameters, versioned on every change."""

    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=100, unique=True)
    strategy = models.CharField(max_length=64)
    strategy_version = models.CharField(max_length=16)
    params = models.JSONField(default=dict)
    params_version = models.PositiveIntegerField(default=1)
    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=32)
    timeframe = models.CharField(max_length=8)
    enabled = models.BooleanField(default=True)
    # the ml model (by name; its production version) whose `ml.prediction` events feed a strategy that declares
    # inputs (ml_signal): such an instance decides when its bar's prediction arrives, not on the candle
    model_name = models.CharField(max_length=100, blank=True, default="")
    # the bot: where and with what it trades, and whether it does now
    mode = models.CharField(max_length=8, choices=BotMode.choices, default=BotMode.PAPER)
    venue = models.CharField(max_length=32, default="paper")  # where its orders go ("paper" in paper mode)
    capital = models.DecimalField(max_digits=28, decimal_places=10, default=Decimal("10000"))
    state = models.CharField(max_length=8, choices=BotState.choices, default=BotState.STOPPED)
    # the cost model it sizes with and its parity backtest runs with (the paper venue's fee model)
    commission = models.DecimalField(max_digits=8, decimal_places=6, default=Decimal("0.001"))
    slippage = models.DecimalField(max_digits=8, decimal_places=6, default=Decimal("0"))
    # the venue's lot size and minimums for the market, read when the instance is created
    amount_step = models.DecimalField(max_digits=28, decimal_places=10, default=Decimal("0.000001"))
    min_amount = models.DecimalField(max_digits=28, decimal_places=10, default=Decimal("0"))
    min_notional = models.DecimalField(max_digits=28, decimal_places=10, default=Decimal("0"))
    held_target = models.DecimalField(max_digits=12, decimal_places=8, default=Decimal("0"))
    funded = models.BooleanField(default=False)  # its capital was deposited on the paper venue
    armed_at = models.DateTimeField(null=True, blank=True)  # live trading armed (audited); None: not armed
    armed_by_id = models.BigIntegerField(null=True, blank=True)
    # protections (0 disables one): cooldown bars after a stop-loss, drawdown stop, daily loss limit
    cooldown_bars = models.PositiveIntegerField(default=0)
    max_drawdown_pct = models.DecimalField(max_digits=8, decimal_places=4, default=Decimal("0"))
    daily_loss_limit = models.DecimalField(max_digits=28, decimal_places=10, default=Decimal("0"))
    cooldown_until = models.DateTimeField(null=True, blank=True)
    peak_equity = models.DecimalField(max_digits=28, decimal_places=10, null=True, blank=True)
    day_start = models.DateField(null=True, blank=True)  # the UTC day the daily loss is measured over
    day_start_equity = models.DecimalField(max_digits=28, decimal_places=10, null=True, blank=True)
    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "strategy_instance"
        indexes = [models.Index(fields=["exchange", "symbol", "timeframe", "enabled"], name="strategy_market")]

    def __str__(self) -> str:
        return f"{self.name} ({self.strategy} {self.symbol} {self.timeframe})"


class Signal(models.Model):
    id = models.BigAutoField(primary_key=True)
    instance = models.ForeignKey(StrategyInstance, on_delete=models.CASCADE, related_name="signals")
    params_version = models.PositiveIntegerField()
    bar_time = models.DateTimeField()
    close = models.DecimalField(max_digits=28, decimal_places=10)
    target = models.DecimalField(max_digits=12, decimal_places=8, null=True, blank=True)
    order_type = models.CharField(max_length=8)
    price = models.DecimalField(max_digits=28, decimal_places=10, null=True, blank=True)
    stop_loss = models.DecimalField(max_digits=28, decimal_places=10, null=True, blank=True)
    take_profit = models.DecimalField(max_digits=28, decimal_places=10, null=True, blank=True)
    strategy_version = models.CharField(max_length=16, blank=True, default="")
    stale = models.BooleanField(default=False)  # a back-filled bar: recorded, never traded
    inputs = models.JSONField(default=dict, blank=True)  # the outside values it decided on ({"prediction": p})
    # what the bot did with it (empty: not decided yet); the order it placed is found by its client id
    action = models.CharField(max_length=16, blank=True, default="")
    detail = models.CharField(max_length=300, blank=True, default="")
    order_side = models.CharField(max_length=4, blank=True, default="")
    order_quantity = models.DecimalField(max_digits=28, decimal_places=10, null=True, blank=True)
    client_order_id = models.CharField(max_length=64, blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "signal"
        constraints = [models.UniqueConstraint(fields=["instance", "bar_time"], name="signal_once_per_bar")]

    def __str__(self) -> str:
        return f"{self.instance_id} @ {self.bar_time}: {self.target}"


class OrderStatus(models.TextChoices):
    NEW = "new"
    PENDING_RISK = "pending_risk"
    SUBMITTED = "submitted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"


OPEN_STATUSES = (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)


class Order(models.Model):
    """An order and its persisted state; every status change is an OrderTransition and a published event."""

    id = models.BigAutoField(primary_key=True)
    client_order_id = models.CharField(max_length=64, unique=True)
    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4)
    order_type = models.CharField(max_length=8)
    quantity = models.DecimalField(max_digits=28, decimal_places=10)
    price = models.DecimalField(max_digits=28, decimal_places=10, null=True, blank=True)
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.NEW)
    filled_quantity = models.DecimalField(max_digits=28, decimal_places=10, default=0)
    average_price = models.DecimalField(max_digits=28, decimal_places=10, null=True, blank=True)
    fees = models.DecimalField(max_digits=28, decimal_places=10, default=0)
    exchange_order_id = models.CharField(max_length=64, blank=True, default="")
    last_error = models.CharField(max_length=300, blank=True, default="")
    strategy_instance_id = models.BigIntegerField(null=True, blank=True)
    # the strategy source hash a bot order was decided by (a database default: the saga's insert omits it)
    strategy_version = models.CharField(max_length=16, blank=True, default="", db_default="")
    user_id = models.BigIntegerField(null=True, blank=True)
    # TWAP: the parent carries the plan and is never sent itself; its slices are child orders
    algo = models.CharField(max_length=8, blank=True, default="")
    slices = models.PositiveIntegerField(null=True, blank=True)
    interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "order"
        indexes = [
            models.Index(fields=["status"], name="order_status"),
            models.Index(fields=["-created_at"], name="order_recent"),
            models.Index(
                fields=["exchange"],
                condition=models.Q(status__in=["submitted", "partially_filled"]),
                name="order_open_by_exchange",
            ),
            models.Index(
                fields=["strategy_instance_id"],
                condition=models.Q(strategy_instance_id__isnull=False),
                name="order_by_strategy_instance",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.client_order_id} {self.side} {self.quantity} {self.symbol} [{self.status}]"


class OrderTransition(models.Model):
    id = models.BigAutoField(primary_key=True)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=20)
    to_status = models.CharField(max_length=20)
    reason = models.CharField(max_length=300, blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "order_transition"

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status} -> {self.to_status}"


class Fill(models.Model):
    id = models.BigAutoField(primary_key=True)
    exchange = models.CharField(max_length=32)
    exchange_fill_id = models.CharField(max_length=64)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4)
    quantity = models.DecimalField(max_digits=28, decimal_places=10)
    price = models.DecimalField(max_digits=28, decimal_places=10)
    fee = models.DecimalField(max_digits=28, decimal_places=10)  # in the quote currency
    is_maker = models.BooleanField(default=False)
    executed_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "fill"
        constraints = [models.UniqueConstraint(fields=["exchange", "exchange_fill_id"], name="fill_once")]

    def __str__(self) -> str:
        return f"{self.exchange_fill_id}: {self.side} {self.quantity} {self.symbol} @ {self.price}"


class Position(models.Model):
    """A position per market, always the result of `positions.PositionState.apply` over its fills."""

    id = models.BigAutoField(primary_key=True)
    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=32)
    quantity = models.DecimalField(max_digits=28, decimal_places=10, default=0)
    average_price = models.DecimalField(max_digits=28, decimal_places=10, default=0)
    realised_pnl = models.DecimalField(max_digits=28, decimal_places=10, default=0)
    fees = models.DecimalField(max_digits=28, decimal_places=10, default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "position"
        constraints = [models.UniqueConstraint(fields=["exchange", "symbol"], name="position_market_unique")]

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.quantity}"


class PnlSnapshot(models.Model):
    """Portfolio P&L at a moment: one row per market and one total row (symbol "")."""

    id = models.BigAutoField(primary_key=True)
    taken_at = models.DateTimeField()
    exchange = models.CharField(max_length=32, blank=True, default="")
    symbol = models.CharField(max_length=32, blank=True, default="")
    quantity = models.DecimalField(max_digits=28, decimal_places=10, default=0)
    mark_price = models.DecimalField(max_digits=28, decimal_places=10, null=True, blank=True)
    realised_pnl = models.DecimalField(max_digits=28, decimal_places=10)
    unrealised_pnl = models.DecimalField(max_digits=28, decimal_places=10)
    fees = models.DecimalField(max_digits=28, decimal_places=10)

    class Meta:
        db_table = "pnl_snapshot"
        indexes = [models.Index(fields=["-taken_at"], name="pnl_snapshot_recent")]

    def __str__(self) -> str:
        return f"{self.taken_at} {self.symbol or 'total'}"


class AlgoSlice(models.Model):
    """One planned child of an execution-algorithm parent (VWAP): its size, its volume share, when it is due."""

    id = models.BigAutoField(primary_key=True)
    parent = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="algo_slices")
    index = models.PositiveIntegerField()
    quantity = models.DecimalField(max_digits=28, decimal_places=10)
    weight = models.DecimalField(max_digits=20, decimal_places=12)
    due_at = models.DateTimeField()

    class Meta:
        db_table = "algo_slice"
        constraints = [models.UniqueConstraint(fields=["parent", "index"], name="algo_slice_once")]

    def __str__(self) -> str:
        return f"{self.parent_id}#{self.index}: {self.quantity} at {self.due_at}"


class DrawdownState(models.Model):
    """One row: the portfolio's equity peak and the latest drawdown from it."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    peak_equity = models.DecimalField(max_digits=28, decimal_places=10)
    peak_at = models.DateTimeField()
    equity = models.DecimalField(max_digits=28, decimal_places=10)
    drawdown_pct = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    # the peak a breach already tripped the breaker for: a breaker closed by hand stays closed until a new
    # peak forms (the operator has seen this drawdown)
    tripped_peak = models.DecimalField(max_digits=28, decimal_places=10, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "drawdown_state"

    def __str__(self) -> str:
        return f"peak {self.peak_equity}, drawdown {self.drawdown_pct}%"


class StopKind(models.TextChoices):
    STOP_LOSS = "stop_loss"
    TRAILING_STOP = "trailing_stop"


class StopStatus(models.TextChoices):
    ACTIVE = "active"
    TRIGGERED = "triggered"
    CANCELLED = "cancelled"


class PositionStop(models.Model):
    """A stop-loss or trailing stop on a position: when the mark crosses `stop_price` a market order closes
    the position through the saga. A trailing stop ratchets `stop_price` with the best mark seen."""

    id = models.BigAutoField(primary_key=True)
    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=32)
    kind = models.CharField(max_length=16, choices=StopKind.choices)
    close_side = models.CharField(max_length=4)  # sell closes a long, buy closes a short
    stop_price = models.DecimalField(max_digits=28, decimal_places=10)
    trail_pct = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    water_mark = models.DecimalField(max_digits=28, decimal_places=10, null=True, blank=True)
    status = models.CharField(max_length=12, choices=StopStatus.choices, default=StopStatus.ACTIVE)
    trigger_price = models.DecimalField(max_digits=28, decimal_places=10, null=True, blank=True)
    triggered_at = models.DateTimeField(null=True, blank=True)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "position_stop"
        indexes = [models.Index(fields=["exchange", "symbol", "status"], name="position_stop_market")]

    def __str__(self) -> str:
        return f"{self.kind} {self.symbol} @ {self.stop_price} [{self.status}]"


class ProtectionTrip(models.Model):
    """A protection of one strategy instance that stopped or held it (cooldown, drawdown, daily loss)."""

    id = models.BigAutoField(primary_key=True)
    instance = models.ForeignKey(StrategyInstance, on_delete=models.CASCADE, related_name="protection_trips")
    rule = models.CharField(max_length=20)
    message = models.CharField(max_length=300)
    bar_time = models.DateTimeField()
    until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "protection_trip"
        constraints = [
            models.UniqueConstraint(fields=["instance", "rule", "bar_time"], name="protection_trip_once_per_bar")
        ]

    def __str__(self) -> str:
        return f"{self.instance_id} {self.rule} @ {self.bar_time}"


class TelegramCommand(models.Model):
    """One Bot API update the command poller took (`telegram_commands.py`), stored in the transaction of the
    command's effect: a redelivered update is never run twice, and the latest row gives the next getUpdates
    offset (so a restart neither re-runs nor skips). Refusals and non-commands are kept too, to pass them."""

    class Outcome(models.TextChoices):
        DONE = "done"  # run (a read, or a state change)
        REJECTED = "rejected"  # a trader's command that could not run: bad or foreign ID, usage, bot refusal
        REFUSED = "refused"  # an unknown chat, or a user without the trader role: nothing happened
        FAILED = "failed"  # an unexpected error (logged); its effect was rolled back
        IGNORED = "ignored"  # not a text message

    id = models.BigAutoField(primary_key=True)
    update_id = models.BigIntegerField()
    sent_at = models.BigIntegerField(default=0)  # the message's unix time (Telegram may reuse ids after a week)
    chat_id = models.CharField(max_length=32, blank=True, default="")
    user_id = models.BigIntegerField(null=True, blank=True)
    command = models.CharField(max_length=32, blank=True, default="")
    argument = models.CharField(max_length=64, blank=True, default="")
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.IGNORED)
    reply = models.TextField(blank=True, default="")
    notification_id = models.BigIntegerField(null=True, blank=True)  # the reply, queued in core's notifications
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "telegram_command"
        constraints = [models.UniqueConstraint(fields=["update_id", "sent_at"], name="telegram_update_once")]
        # each poll looks for replies not queued yet: few rows, however long the history grows
        indexes = [
            models.Index(fields=["id"], condition=models.Q(notification_id__isnull=True), name="telegram_reply_pending")
        ]

    def __str__(self) -> str:
        return f"update {self.update_id} from {self.chat_id or '-'}: /{self.command} [{self.outcome}]"
