"""Bot control over Telegram against a local Bot API server on 127.0.0.1 (getUpdates, sendMessage): a linked
trader's commands change the bot's real state and answer with its real figures; unknown chats and viewers are
refused; every update runs once across polls; replies travel through core's notifications on a dramatiq worker."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import dramatiq
import pytest

from dsta.domains import DOMAINS

pytestmark = pytest.mark.django_db(databases=[domain.alias for domain in DOMAINS], transaction=True)
D = Decimal
TOKEN = "424242:telegram-commands-token"  # noqa: S105
ALICE_CHAT, BOB_CHAT, STRANGER_CHAT = 1001, 1002, 1003
DEMO_BTC = Path(__file__).resolve().parents[1] / "dsta" / "data" / "demo" / "BTC_USDT-1h.csv.gz"


@pytest.fixture
def bot_api(settings):
    from dsta.core import auth
    from dsta.core.tests.servers import TelegramBotApi

    server = TelegramBotApi(TOKEN).start()
    settings.DSTA_TELEGRAM_API_URL = server.url
    settings.DSTA_TELEGRAM_BOT_TOKEN = TOKEN
    settings.DSTA_OUTBOUND_ALLOWLIST = ["127.0.0.1"]  # the local server; loopback is refused by default
    settings.DSTA_NOTIFY_BACKOFF_SECONDS = 0.01
    client = auth.redis_client()
    for key in client.scan_iter("dsta:core:notify:*"):
        client.delete(key)
    yield server
    server.stop()


@pytest.fixture
def notifier():
    """A real dramatiq worker delivering core's notifications (the replies), one thread so they keep order."""
    from dsta.core import actors

    broker = dramatiq.get_broker()
    queues = {actors.NOTIFICATIONS_QUEUE, actors.URGENT_NOTIFICATIONS_QUEUE}
    for queue in queues:
        broker.flush(queue)
    worker = dramatiq.Worker(broker, queues=queues, worker_threads=1, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def people():
    from dsta.core import api as core_api
    from dsta.core.contracts import TELEGRAM_CHATS_CONFIG_KEY
    from dsta.core.tests.factories import user_with_role
    from dsta.exchange import api as exchange_api

    exchange_api.paper_reset(slippage_bps=D(0), slippage_jitter_bps=D(0))
    alice, bob, carol = user_with_role("trader"), user_with_role("viewer"), user_with_role("trader")
    core_api.config_set(
        key=TELEGRAM_CHATS_CONFIG_KEY, value={str(ALICE_CHAT): alice.username, str(BOB_CHAT): bob.username}
    )
    return alice, bob, carol


def instance(name: str, owner_id: int | None, *, capital: str = "1000"):  # type: ignore[no-untyped-def]
    from dsta.trading import bot

    return bot.instance_create(
        name=name,
        strategy="sma_cross",
        params={"fast": 5, "slow": 12},
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
        actor_id=owner_id,
        settings=bot.BotSettings(capital=D(capital), candles_supplied=True),
    )


def wait_for_replies(bot_api, chat_id: int, count: int, timeout: float = 30) -> list[str]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(bot_api.texts_to(chat_id)) < count:
        time.sleep(0.05)
    return bot_api.texts_to(chat_id)


def state_of(instance_id: int) -> str:
    from dsta.trading.models import StrategyInstance

    return StrategyInstance.objects.using("trading").get(pk=instance_id).state


def audit_of(user_id: int, action: str) -> list[dict]:
    from dsta.core.models import AuditEntry

    return list(AuditEntry.objects.filter(actor_id=user_id, action=action).order_by("id").values("target", "details"))


def test_a_linked_trader_reads_and_controls_only_their_own_instances(bot_api, notifier, people):
    from dsta.trading import bot, bot_book, bot_replay, telegram_commands
    from dsta.trading.models import StrategyInstance, TelegramCommand

    alice, _bob, carol = people
    trading = bot.bot_start(instance_id=instance("alice-sma", alice.pk).pk, actor_id=alice.pk)
    idle = instance("alice-idle", alice.pk, capital="500")
    foreign = instance("carol-sma", carol.pk)
    # real bars until it has closed a trade and holds a position again, marked away from its entry price
    for bar in bot_replay.candles_read(DEMO_BTC, exchange="binance", symbol="BTC/USDT", timeframe="1h")[:400]:
        bot_replay.bar_feed(bar)
        book = bot_book.book_of(StrategyInstance.objects.using("trading").get(pk=trading.pk))
        sold = any(fill.side == "sell" for fill in bot_book.instance_fills(trading.pk))
        if sold and book.position.quantity > 0 and bar.close != book.position.average_price:
            break
    assert sold and book.position.quantity > 0 and book.position.unrealised_pnl(bar.close) != 0
    mark = bar.close

    commands = [
        "/status",
        "/profit",
        "/balance",
        "/positions",
        f"/pause {trading.pk}",
        f"/start@DstaBot {idle.pk}",
        f"/stop {foreign.pk}",
        "/stop 999999",
        "/pause soon",
        "/start",
    ]
    update_ids = [bot_api.message(ALICE_CHAT, text) for text in commands]
    assert telegram_commands.telegram_poll() == len(commands)
    replies = wait_for_replies(bot_api, ALICE_CHAT, len(commands))
    assert len(replies) == len(commands)
    status, profit, balance, positions, paused, started, foreign_reply, missing, usage, help_text = replies

    assert f"#{trading.pk} alice-sma: BTC/USDT 1h sma_cross, running, paper" in status
    assert f"#{idle.pk} alice-idle: BTC/USDT 1h sma_cross, stopped, paper" in status
    assert "carol-sma" not in status  # another user's instance is not listed
    realised = f"{book.position.realised_pnl.quantize(D('0.01')):,}"
    unrealised = f"{book.position.unrealised_pnl(mark).quantize(D('0.01')):,}"
    assert f"#{trading.pk} alice-sma: realised {'+' if book.position.realised_pnl > 0 else ''}{realised}, " in profit
    assert f"unrealised {'+' if book.position.unrealised_pnl(mark) > 0 else ''}{unrealised} USDT" in profit
    assert f"#{idle.pk} alice-idle: realised 0.00, unrealised 0.00 USDT" in profit
    assert f"Total USDT: realised {'+' if book.position.realised_pnl > 0 else ''}{realised}, unrealised" in profit
    assert f"#{trading.pk} alice-sma: allocation 1,000.00, cash {book.cash.quantize(D('0.01')):,}" in balance
    assert f"#{idle.pk} alice-idle: allocation 500.00, cash 500.00, equity 500.00 USDT" in balance
    assert "Total USDT: allocation 1,500.00" in balance
    assert f"#{trading.pk} alice-sma: {book.position.quantity.normalize():f} BTC @ " in positions
    assert f"mark {mark.quantize(D('0.01')):,}" in positions and "alice-idle" not in positions
    assert paused == f"Paused #{trading.pk} alice-sma (BTC/USDT 1h, paper): paused."
    assert started == f"Started #{idle.pk} alice-idle (BTC/USDT 1h, paper): running."
    assert foreign_reply == f"Strategy instance {foreign.pk} belongs to another user; you control only your own."
    assert missing == "There is no strategy instance 999999; /status lists yours."
    assert usage.startswith("Usage: /pause ID")
    assert help_text.startswith("DSTA bot commands:")  # a bare /start, as Telegram sends when a chat opens

    # the state really changed, and only where it should
    assert (state_of(trading.pk), state_of(idle.pk), state_of(foreign.pk)) == ("paused", "running", "stopped")
    audited = audit_of(alice.pk, "trading.telegram.command")
    assert [(entry["details"]["command"], entry["details"]["outcome"]) for entry in audited] == [
        ("status", "done"),
        ("profit", "done"),
        ("balance", "done"),
        ("positions", "done"),
        ("pause", "done"),
        ("start", "done"),
        ("stop", "rejected"),
        ("stop", "rejected"),
        ("pause", "rejected"),
        ("start", "done"),  # the help
    ]
    assert all(entry["target"] == f"telegram:{ALICE_CHAT}" for entry in audited)
    assert [entry["target"] for entry in audit_of(alice.pk, "trading.bot.paused")] == [f"strategy:{trading.pk}"]

    # A second poll confirms what was taken (offset = last + 1) and runs nothing again, even where the state
    # moved since; a new command is taken once.
    bot.bot_start(instance_id=trading.pk, actor_id=None)
    assert telegram_commands.next_offset() == update_ids[-1] + 1
    assert telegram_commands.telegram_poll() == 0
    assert bot_api.calls[-1] == (
        "getUpdates",
        {"timeout": 0, "limit": 100, "allowed_updates": ["message"], "offset": update_ids[-1] + 1},
    )
    assert bot_api.pending == [] and state_of(trading.pk) == "running"
    # this time as the scheduler runs it: the `telegram_poll` actor on a worker of the trading queue, twice
    from dsta.trading import actors

    bot_api.message(ALICE_CHAT, f"/stop {trading.pk}")
    broker = dramatiq.get_broker()
    broker.flush("trading")
    worker = dramatiq.Worker(broker, queues={"trading"}, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        actors.telegram_poll.send()
        actors.telegram_poll.send()
        broker.join("trading", timeout=30_000)
    finally:
        worker.stop()
    replies = wait_for_replies(bot_api, ALICE_CHAT, len(commands) + 1)
    assert replies[len(commands) :] == [f"Stopped #{trading.pk} alice-sma (BTC/USDT 1h, paper): stopped."]
    assert state_of(trading.pk) == "stopped"
    # the same update handed again (another poller, or an API that lost the confirmation) is not run again
    from dsta.core.contracts import TelegramUpdate

    again = TelegramUpdate(update_id=update_ids[4], chat_id=str(ALICE_CHAT), text=commands[4], sent_at=1_800_000_000)
    assert telegram_commands.update_take(again) is False
    assert TelegramCommand.objects.using("trading").count() == len(commands) + 1
    time.sleep(0.3)
    assert len(bot_api.texts_to(ALICE_CHAT)) == len(commands) + 1  # and no reply twice


def test_unknown_chats_and_viewers_are_refused_politely_and_nothing_happens(bot_api, notifier, people, settings):
    from dsta.core import api as core_api
    from dsta.core.contracts import TELEGRAM_CHATS_CONFIG_KEY
    from dsta.trading import bot, telegram_commands
    from dsta.trading.models import TelegramCommand

    alice, bob, _carol = people
    running = bot.bot_start(instance_id=instance("alice-sma", alice.pk).pk, actor_id=alice.pk)

    bot_api.message(STRANGER_CHAT, f"/stop {running.pk}")
    bot_api.message(BOB_CHAT, f"/stop {running.pk}")
    bot_api.message(BOB_CHAT, "/status")
    assert telegram_commands.telegram_poll() == 3
    assert wait_for_replies(bot_api, STRANGER_CHAT, 1) == [
        f"Sorry, this chat (id {STRANGER_CHAT}) is not linked to a DSTA user, so I cannot take commands here. "
        "An admin links it in the config key telegram.chat_ids."
    ]
    refusal = f"Sorry {bob.username}, bot commands need the trader role; nothing was done."
    assert wait_for_replies(bot_api, BOB_CHAT, 2) == [refusal, refusal]
    assert state_of(running.pk) == "running"
    assert audit_of(bob.pk, "trading.bot.stopped") == [] and audit_of(alice.pk, "trading.bot.stopped") == []
    assert [entry["details"]["outcome"] for entry in audit_of(bob.pk, "trading.telegram.command")] == [
        "refused",
        "refused",
    ]
    outcomes = list(TelegramCommand.objects.using("trading").order_by("id").values_list("chat_id", "outcome"))
    assert outcomes == [(str(STRANGER_CHAT), "refused"), (str(BOB_CHAT), "refused"), (str(BOB_CHAT), "refused")]

    # A Bot API that refuses the token: nothing is taken, and the updates wait for the next poll.
    bot_api.message(ALICE_CHAT, f"/stop {running.pk}")
    settings.DSTA_TELEGRAM_BOT_TOKEN = "999:wrong"  # noqa: S105
    assert telegram_commands.telegram_poll() == 0
    assert state_of(running.pk) == "running" and TelegramCommand.objects.using("trading").count() == 3
    settings.DSTA_TELEGRAM_BOT_TOKEN = TOKEN
    assert telegram_commands.telegram_poll() == 1 and state_of(running.pk) == "stopped"
    assert wait_for_replies(bot_api, ALICE_CHAT, 1) == [
        f"Stopped #{running.pk} alice-sma (BTC/USDT 1h, paper): stopped."
    ]

    # With no chat linked the poller does not even ask the API.
    core_api.config_set(key=TELEGRAM_CHATS_CONFIG_KEY, value={})
    calls = len(bot_api.calls)
    assert telegram_commands.telegram_poll() == 0 and len(bot_api.calls) == calls
