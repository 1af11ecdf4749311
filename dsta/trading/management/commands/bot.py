"""`manage.py bot list|status|start|pause|stop|parity|replay-file`: the bot from the command line, through the
same services as the API (every state change audited; bad input is a message and a non-zero exit)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dsta.trading.models import StrategyInstance

ALIAS = "trading"


def _instance(instance_id: int) -> StrategyInstance:
    found = StrategyInstance.objects.using(ALIAS).filter(pk=instance_id).first()
    if found is None:
        raise CommandError(f"no strategy instance {instance_id} (manage.py bot list shows them)")
    return found


def _params(items: list[str]) -> dict[str, float]:
    params: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            params[name] = float(value)
        except ValueError:
            raise CommandError(f"--param {item!r}: expected NAME=NUMBER") from None
    return params


def _decimal(value: str, name: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise CommandError(f"{name} must be a number, not {value!r}") from None
    if not number.is_finite():
        raise CommandError(f"{name} must be a finite number")
    return number


class Command(BaseCommand):
    help = "Run strategy instances as bots: list, status, start, pause, stop, parity, replay-file."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True)
        commands.add_parser("list", help="every instance with its state, mode and allocation")
        for name in ("status", "start", "pause", "stop"):
            commands.add_parser(name, help=f"{name} one instance").add_argument("id", type=int)
        parity = commands.add_parser("parity", help="trade-by-trade comparison with the backtest")
        parity.add_argument("id", type=int)
        replay = commands.add_parser("replay-file", help="replay a candle file through the live path on paper")
        replay.add_argument("path", type=Path)
        replay.add_argument("--symbol", required=True)
        replay.add_argument("--timeframe", required=True)
        replay.add_argument("--strategy", required=True)
        replay.add_argument("--param", action="append", default=[], help="NAME=VALUE, repeatable")
        replay.add_argument("--fee", default="0.001", help="fee fraction of the paper venue and the backtest")
        replay.add_argument("--capital", default="1000", help="the instance's allocation (quote currency)")
        replay.add_argument("--exchange", default="binance", help="the reference venue the bars are stored under")

    def handle(self, *args: Any, **options: Any) -> None:
        from dsta.trading import bot

        action = options["action"]
        try:
            if action == "list":
                self._list()
            elif action == "status":
                self._status(_instance(options["id"]))
            elif action in ("start", "pause", "stop"):
                _instance(options["id"])
                change = {"start": bot.bot_start, "pause": bot.bot_pause, "stop": bot.bot_stop}[action]
                instance = change(instance_id=options["id"], actor_id=None)
                self.stdout.write(f"{instance.pk} {instance.name}: {instance.state}")
            elif action == "parity":
                self._parity(_instance(options["id"]))
            else:
                self._replay(options)
        except bot.BotInputError as exc:
            raise CommandError("; ".join(f"{key}: {value}" for key, value in exc.errors.items())) from None

    def _list(self) -> None:
        rows = StrategyInstance.objects.using(ALIAS).order_by("id")
        self.stdout.write(
            f"{'id':>5} {'name':24} {'strategy':14} {'model':20} {'market':22} {'mode':5} {'state':8} capital"
        )
        for row in rows:
            market = f"{row.exchange} {row.symbol} {row.timeframe}"
            self.stdout.write(
                f"{row.pk:>5} {row.name[:24]:24} {row.strategy[:14]:14} {(row.model_name or '-')[:20]:20} "
                f"{market[:22]:22} {row.mode:5} {row.state:8} {row.capital.normalize():f}"
            )

    def _status(self, instance: StrategyInstance) -> None:
        from dsta.trading import performance
        from dsta.trading.models import Signal

        result = performance.instance_performance(instance=instance)
        armed = "armed" if instance.armed_at else "not armed"
        self.stdout.write(
            f"{instance.pk} {instance.name}: {instance.strategy} v{instance.strategy_version} {instance.params}"
            + (f" (model {instance.model_name})" if instance.model_name else "")
            + " on "
            f"{instance.exchange} {instance.symbol} {instance.timeframe}; {instance.mode} ({armed}) via "
            f"{instance.venue}; {instance.state}"
        )
        self.stdout.write(
            f"capital {result.capital:f}, equity {result.equity:.2f}, position {result.position:f} "
            f"@ {result.average_price:.2f}, realised {result.realised_pnl:.2f}, unrealised "
            f"{result.unrealised_pnl:.2f}, fees {result.fees:.2f}, {result.trades} closed trades"
        )
        for signal in Signal.objects.using(ALIAS).filter(instance=instance).order_by("-bar_time")[:5]:
            self.stdout.write(
                f"  {signal.bar_time:%Y-%m-%d %H:%M} target {signal.target} -> {signal.action or 'undecided'}"
                f"{' ' + signal.client_order_id if signal.client_order_id else ''}"
            )

    def _parity(self, instance: StrategyInstance) -> None:
        from dsta.trading import parity

        try:
            report = parity.parity_report(instance=instance, start=None, end=None)
        except parity.ParityInputError as exc:
            raise CommandError("; ".join(f"{key}: {value}" for key, value in exc.errors.items())) from None
        self._print_report(report)

    def _print_report(self, report: Any) -> None:
        self.stdout.write(
            f"{report.bars} bars decided {report.start:%Y-%m-%d %H:%M} .. {report.end:%Y-%m-%d %H:%M}; "
            f"backtest {report.backtest_job_id}: {report.backtest_trades} trades, bot {report.bot_trades}; "
            f"score {report.score:.3f}"
        )
        for trade in report.missed:
            self.stdout.write(f"  missed {trade.entry_bar:%Y-%m-%d %H:%M}: {trade.reason}")
        for trade in report.extra:
            self.stdout.write(f"  extra  {trade.entry_bar:%Y-%m-%d %H:%M}: {trade.reason}")
        self.stdout.write(report.summary_line())

    def _replay(self, options: dict[str, Any]) -> None:
        from dsta.trading import bot_replay, services

        try:
            outcome = bot_replay.replay_file(
                path=options["path"],
                exchange=options["exchange"],
                symbol=options["symbol"],
                timeframe=options["timeframe"],
                strategy=options["strategy"],
                params=_params(options["param"]),
                fee=_decimal(options["fee"], "--fee"),
                capital=_decimal(options["capital"], "--capital"),
            )
        except bot_replay.CandleFileError as exc:
            raise CommandError(str(exc)) from None
        except services.TradingInputError as exc:
            raise CommandError("; ".join(f"{key}: {value}" for key, value in exc.errors.items())) from None
        self.stdout.write(
            f"replayed {outcome.bars} bars in {outcome.seconds:.1f} s: {outcome.bars_per_second:.0f} bars/s "
            f"(instance {outcome.instance_id})"
        )
        self._print_report(outcome.report)
