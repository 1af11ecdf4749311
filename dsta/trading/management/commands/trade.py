"""`manage.py trade --dry-run --strategy sma_cross --symbol BTC/USDT [--param fast=10] [--bars 500]`: replay
the bundled 1h candles through candle_close -> strategy decision -> order saga -> paper venue fills."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dsta.data import api as data_api
from dsta.data.contracts import InvalidStrategyParameters
from dsta.trading import replay


class Command(BaseCommand):
    help = "Dry-run a strategy over the bundled 1h candles on the paper venue (real order path, no real money)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="required: live trading is not offered here")
        parser.add_argument("--strategy", required=True)
        parser.add_argument("--symbol", required=True, help="e.g. BTC/USDT")
        parser.add_argument("--param", action="append", default=[], help="NAME=VALUE, repeatable")
        parser.add_argument("--bars", type=int, default=None, help="replay only the first N bars")
        parser.add_argument("--cash", default="10000", help="starting quote balance")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["dry_run"]:
            raise CommandError("only --dry-run is supported: this command never trades real money")
        params: dict[str, float] = {}
        for item in options["param"]:
            name, _, value = item.partition("=")
            try:
                params[name] = float(value)
            except ValueError:
                raise CommandError(f"--param {item!r}: expected NAME=NUMBER") from None
        try:
            data_api.strategy_params_validate(strategy=options["strategy"], params=params)
        except InvalidStrategyParameters as exc:
            raise CommandError(f"bad parameters: {exc.errors}") from None
        try:
            cash = Decimal(options["cash"])
        except InvalidOperation:
            raise CommandError("--cash must be a number") from None
        if options["bars"] is not None and options["bars"] < 2:
            raise CommandError("--bars must be at least 2")
        try:
            bars = replay.demo_bars(symbol=options["symbol"], limit=options["bars"])
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from None
        result = replay.replay(
            strategy=options["strategy"],
            params=params,
            bars=bars,
            initial_cash=cash,
            run_id=f"dry-{uuid.uuid4().hex[:8]}",
        )
        for fill in result.fills:
            self.stdout.write(f"{fill.at:%Y-%m-%d %H:%M} {fill.side:4} {fill.quantity} @ {fill.price}")
        last_close = bars[-1].close
        self.stdout.write(
            f"{result.bars} bars, {result.orders_placed} orders ({result.orders_rejected} rejected by risk), "
            f"{len(result.fills)} fills; cash {result.cash}, {options['symbol'].split('/')[0]} {result.base}, "
            f"equity {result.cash + result.base * last_close:.2f} at the last close"
        )
