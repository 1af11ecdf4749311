"""Bot control over Telegram: /status, /profit, /balance, /positions, /start ID, /stop ID, /pause ID.

The scheduler sends `telegram_poll` every few seconds (`DSTA_SCHEDULE_TELEGRAM_POLL_SECONDS`); it does nothing
until an admin links a chat (core config `telegram.chat_ids`). Each poll asks core for the Bot API updates
after the last one taken, and takes each in one transaction: its `TelegramCommand` row (unique per update) and
the command's effect together, so a redelivered update or a restarted worker never runs a command twice, and
the latest row is the next offset, so none is skipped. The reply is queued as a Telegram notification after
the commit (a crash in between: the next poll queues it; core deduplicates by the update).

Only a chat linked to an active user with the trader role is obeyed; anyone else gets a polite refusal and
nothing happens. A user sees and controls the instances they created and those nobody did (the CLI's); every
accepted command is audited in core's log with that user.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import structlog
from django.db import IntegrityError, connections, transaction

from dsta.core import api as core_api
from dsta.core.contracts import TELEGRAM_CHATS_CONFIG_KEY, Principal, TelegramUnavailable, TelegramUpdate
from dsta.exchange.contracts import ExchangeError
from dsta.kernel.clock import utc_now
from dsta.trading import bot, bot_selectors
from dsta.trading.contracts import BotView
from dsta.trading.models import StrategyInstance, TelegramCommand

ALIAS = "trading"
log = structlog.get_logger(__name__)
Outcome = TelegramCommand.Outcome

BATCH = 100
POLL_LOCK = 0x7E1E_0001  # pg advisory lock: one poller at a time (the scheduler may overlap slow polls)
# Telegram picks a random next update id after a week without updates: an offset that old is not trusted.
STALE_OFFSET = timedelta(days=6)
MAX_REPLY = 4000  # the Bot API takes 4096 characters a message
TRADER_ROLE = "trader"
READ_PERMISSION = "trading.read"
MANAGE_PERMISSION = "trading.strategy.manage"
CONTROL: dict[str, tuple[Callable[..., StrategyInstance], str, str]] = {
    "start": (bot.bot_start, "start", "Started"),
    "stop": (bot.bot_stop, "stop", "Stopped"),
    "pause": (bot.bot_pause, "pause", "Paused"),
}
PROFIT_TOTALS = {"realised": "realised_pnl", "unrealised": "unrealised_pnl"}
BALANCE_TOTALS = {"allocation": "capital", "cash": "cash", "equity": "equity"}
HELP = (
    "DSTA bot commands:\n"
    "/status - each instance: id, name, market, state, mode\n"
    "/profit - realised and unrealised P&L per instance and in total\n"
    "/balance - allocation, cash and equity per instance\n"
    "/positions - the open position of each instance\n"
    "/start ID, /pause ID, /stop ID - change an instance's state (IDs from /status)"
)


@dataclass(frozen=True)
class Answer:
    outcome: str
    reply: str
    user_id: int | None = None
    command: str = ""
    argument: str = ""


# Polling ----------------------------------------------------------------------------------------------------------


def commands_configured() -> bool:
    links = core_api.config_get(key=TELEGRAM_CHATS_CONFIG_KEY)
    return links is not None and isinstance(links.value, dict) and bool(links.value)


@contextlib.contextmanager
def _poll_lock() -> Iterator[bool]:
    with connections[ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [POLL_LOCK])
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            with connections[ALIAS].cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [POLL_LOCK])


def next_offset() -> int | None:
    """The update after the latest one taken, or None (the API then hands every unconfirmed update)."""
    latest = TelegramCommand.objects.using(ALIAS).order_by("-id").values_list("update_id", "received_at").first()
    if latest is None or latest[1] < utc_now() - STALE_OFFSET:
        return None
    return int(latest[0]) + 1


def telegram_poll() -> int:
    """Take the new updates: run each command once and queue its reply. Returns the number taken."""
    if not commands_configured():
        return 0
    with _poll_lock() as held:
        if not held:
            return 0
        replies_queue()  # replies a crash left unqueued
        try:
            updates = core_api.telegram_updates_get(offset=next_offset(), limit=BATCH)
        except TelegramUnavailable as exc:
            log.warning("telegram_poll_failed", error=str(exc)[:200])
            return 0
        taken = sum(1 for update in updates if update_take(update))
        replies_queue()
    return taken


def update_take(update: TelegramUpdate) -> bool:
    """Run one update's command with its row in one transaction; False when it was taken before."""
    try:
        with transaction.atomic(using=ALIAS):
            row = TelegramCommand.objects.using(ALIAS).create(
                update_id=update.update_id, sent_at=update.sent_at, chat_id=update.chat_id
            )
            try:
                with transaction.atomic(using=ALIAS):  # a savepoint: a failed command leaves its row to record it
                    answer = command_run(chat_id=update.chat_id, text=update.text)
            except Exception:  # recorded, not retried: one bad update must not block the rest
                log.exception("telegram_command_failed", update_id=update.update_id)
                answer = Answer(Outcome.FAILED, "Sorry, that failed on our side; the command was not carried out.")
            row.outcome, row.reply, row.user_id = answer.outcome, answer.reply, answer.user_id
            row.command, row.argument = answer.command[:32], answer.argument[:64]
            row.save(using=ALIAS, update_fields=["outcome", "reply", "user_id", "command", "argument"])
    except IntegrityError:
        return False  # a second poller, or the API handing an update again: it ran once already
    return True


def replies_queue() -> int:
    """Queue every stored reply not queued yet as a Telegram notification (deduplicated by its update)."""
    pending = TelegramCommand.objects.using(ALIAS).filter(notification_id__isnull=True).exclude(reply="")
    queued = 0
    for row in pending.order_by("id"):
        try:
            receipt = core_api.notification_send(
                channel="telegram",
                recipient=row.chat_id,
                body=row.reply,
                priority="high",
                dedup_key=f"telegram-reply:{row.update_id}:{row.sent_at}",
            )
        except ValueError as exc:
            log.warning("telegram_reply_refused", update_id=row.update_id, error=str(exc)[:200])
            receipt = None
        # 0: core refused the reply (logged); it is not tried again
        TelegramCommand.objects.using(ALIAS).filter(pk=row.pk).update(
            notification_id=receipt.notification_id if receipt else 0
        )
        queued += 1
    return queued


# Commands ---------------------------------------------------------------------------------------------------------


def parse(text: str) -> tuple[str, str]:
    """`/pause@DstaBot 3` -> ("pause", "3"); ("", "") for text that is no command."""
    first, _, rest = text.strip().partition(" ")
    if not first.startswith("/") or len(first) < 2:
        return "", ""
    return first[1:].split("@", 1)[0].lower(), rest.strip()


def command_run(*, chat_id: str, text: str) -> Answer:
    """What a message from a chat does, and the reply. Runs inside the update's transaction."""
    if not chat_id or not text:
        return Answer(Outcome.IGNORED, "")
    command, argument = parse(text)
    principal = core_api.telegram_chat_principal_get(chat_id=chat_id)
    if principal is None:
        return Answer(
            Outcome.REFUSED,
            f"Sorry, this chat (id {chat_id}) is not linked to a DSTA user, so I cannot take commands here. "
            f"An admin links it in the config key {TELEGRAM_CHATS_CONFIG_KEY}.",
            command=command,
            argument=argument,
        )

    def answer(outcome: str, reply: str) -> Answer:
        return Answer(outcome, _clip(reply), principal.user_id, command, argument)

    if TRADER_ROLE not in principal.roles:
        _audit(principal, chat_id, command, argument, Outcome.REFUSED, reason="no trader role")
        return answer(
            Outcome.REFUSED, f"Sorry {principal.username}, bot commands need the trader role; nothing was done."
        )
    if command not in {*READS, *CONTROL} or (command == "start" and not argument):
        _audit(principal, chat_id, command, argument, Outcome.DONE, reply="help")
        return answer(Outcome.DONE, HELP)  # and a bare /start is what Telegram sends when a chat opens
    needed = MANAGE_PERMISSION if command in CONTROL else READ_PERMISSION
    if not core_api.permission_check(principal=principal, permission=needed):
        _audit(principal, chat_id, command, argument, Outcome.REFUSED, reason=f"lacks {needed}")
        return answer(Outcome.REFUSED, f"Sorry {principal.username}, /{command} needs the permission {needed}.")
    if command in CONTROL:
        outcome, reply = _control(principal, command, argument)
    else:
        outcome, reply = Outcome.DONE, READS[command](bot_selectors.bots_list(signals=1, visible_to=principal.user_id))
    _audit(principal, chat_id, command, argument, outcome)
    return answer(outcome, reply)


def _audit(principal: Principal, chat_id: str, command: str, argument: str, outcome: str, **extra: str) -> None:
    core_api.audit_record(
        actor_id=principal.user_id,
        action="trading.telegram.command",
        target=f"telegram:{chat_id}",
        details={"command": command, "argument": argument[:64], "outcome": outcome, **extra},
    )


def _clip(text: str) -> str:
    return text if len(text) <= MAX_REPLY else text[: MAX_REPLY - 1] + "…"


def _control(principal: Principal, command: str, argument: str) -> tuple[str, str]:
    change, verb, done = CONTROL[command]
    if not argument.isdigit() or int(argument) <= 0:
        return Outcome.REJECTED, f"Usage: /{command} ID, the instance's number from /status (got {argument[:20]!r})."
    instance = StrategyInstance.objects.using(ALIAS).filter(pk=int(argument)).first()
    if instance is None:
        return Outcome.REJECTED, f"There is no strategy instance {argument}; /status lists yours."
    if instance.created_by_id is not None and instance.created_by_id != principal.user_id:
        return Outcome.REJECTED, f"Strategy instance {argument} belongs to another user; you control only your own."
    before = instance.state
    try:
        with transaction.atomic(using=ALIAS):  # a savepoint: a refused change leaves the update's row to record it
            changed = change(instance_id=instance.pk, actor_id=principal.user_id)
    except bot.BotInputError as exc:
        return Outcome.REJECTED, f"Could not {verb} #{instance.pk} {instance.name}: {exc}"
    except ExchangeError as exc:
        return Outcome.FAILED, f"Could not {verb} #{instance.pk} {instance.name}: the venue failed ({exc})"
    if changed.state == before:
        return Outcome.DONE, f"#{changed.pk} {changed.name} was already {changed.state}."
    return (
        Outcome.DONE,
        f"{done} #{changed.pk} {changed.name} ({changed.symbol} {changed.timeframe}, {changed.mode}): {changed.state}.",
    )


# Replies ----------------------------------------------------------------------------------------------------------


def _quote(view: BotView) -> str:
    return view.symbol.partition("/")[2] or "?"


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,}"


def _signed(value: Decimal) -> str:
    return ("+" if value > 0 else "") + _money(value)


def _none(views: list[BotView]) -> str | None:
    return None if views else "You have no strategy instances yet."


def status_reply(views: list[BotView]) -> str:
    lines = [
        f"#{v.instance_id} {v.name}: {v.symbol} {v.timeframe} {v.strategy}"
        + (f" ({v.model_name})" if v.model_name else "")
        + f", {v.state}, {v.mode}"
        + (" (armed)" if v.armed else "")
        for v in views
    ]
    return _none(views) or "Instances:\n" + "\n".join(lines)


def _totals(views: list[BotView], fields: dict[str, str], show: Callable[[Decimal], str]) -> list[str]:
    """One line per quote currency: instances on different quotes do not add up."""
    totals: dict[str, dict[str, Decimal]] = {}
    for view in views:
        sums = totals.setdefault(_quote(view), dict.fromkeys(fields, Decimal(0)))
        for label, name in fields.items():
            sums[label] += getattr(view, name)
    return [
        f"Total {quote}: " + ", ".join(f"{label} {show(value)}" for label, value in sums.items())
        for quote, sums in sorted(totals.items())
    ]


def profit_reply(views: list[BotView]) -> str:
    lines = [
        f"#{v.instance_id} {v.name}: realised {_signed(v.realised_pnl)}, unrealised {_signed(v.unrealised_pnl)}"
        f" {_quote(v)} (fees {_money(v.fees)})"
        for v in views
    ]
    return _none(views) or "Profit:\n" + "\n".join([*lines, *_totals(views, PROFIT_TOTALS, _signed)])


def balance_reply(views: list[BotView]) -> str:
    lines = [
        f"#{v.instance_id} {v.name}: allocation {_money(v.capital)}, cash {_money(v.cash)}, "
        f"equity {_money(v.equity)} {_quote(v)}"
        for v in views
    ]
    return _none(views) or "Balance:\n" + "\n".join([*lines, *_totals(views, BALANCE_TOTALS, _money)])


def positions_reply(views: list[BotView]) -> str:
    lines = [
        f"#{v.instance_id} {v.name}: {v.position.normalize():f} {v.symbol.partition('/')[0]}"
        f" @ {_money(v.average_price)}"
        + (f", mark {_money(v.mark)}, unrealised {_signed(v.unrealised_pnl)} {_quote(v)}" if v.mark is not None else "")
        for v in views
        if v.position != 0
    ]
    return _none(views) or ("Open positions:\n" + "\n".join(lines) if lines else "No open positions.")


READS: dict[str, Callable[[list[BotView]], str]] = {
    "status": status_reply,
    "profit": profit_reply,
    "balance": balance_reply,
    "positions": positions_reply,
}
