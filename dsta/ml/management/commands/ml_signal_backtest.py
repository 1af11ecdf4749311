"""manage.py ml_signal_backtest MODEL [--symbol S --timeframe T] [--param K=V ...]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dsta.data.contracts import InvalidBacktestRequest
from dsta.ml import api
from dsta.ml.contracts import MLInputError


def _params(pairs: list[str]) -> dict[str, float]:
    params: dict[str, float] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise CommandError(f"--param {pair!r}: expected NAME=NUMBER")
        try:
            params[name] = float(value)
        except ValueError:
            raise CommandError(f"--param {pair!r}: expected NAME=NUMBER") from None
    return params


class Command(BaseCommand):
    help = (
        "Backtest the ml_signal strategy on a direction model's causal predictions (walk-forward refits on"
        " earlier bars only, the model itself after it was trained), through the data domain's backtest engine."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("model", help="model name (its production version, else its latest) or numeric id")
        parser.add_argument("--exchange")
        parser.add_argument("--symbol")
        parser.add_argument("--timeframe")
        parser.add_argument("--param", action="append", default=[], help="ml_signal threshold NAME=VALUE")
        parser.add_argument("--retrain-every", type=int, default=500, help="bars between walk-forward refits")
        parser.add_argument("--min-train", type=int, default=1_000, help="bars before the first prediction")

    def handle(self, *args: Any, **options: Any) -> None:
        model = str(options["model"])
        try:
            result = api.ml_signal_backtest(
                model_id=int(model) if model.isdigit() else None,
                name=None if model.isdigit() else model,
                exchange=options["exchange"],
                symbol=options["symbol"],
                timeframe=options["timeframe"],
                params=_params(options["param"]),
                retrain_every=options["retrain_every"],
                min_train=options["min_train"],
            )
        except (MLInputError, InvalidBacktestRequest) as exc:
            raise CommandError(str(exc)) from None
        summary = result.summary
        if summary.status != "succeeded":
            raise CommandError(f"backtest {summary.job_id} {summary.status}: {summary.error}")
        metrics = summary.metrics or {}
        self.stdout.write(
            f"{result.model_name} v{result.model_version}: {result.predicted_bars} bars predicted causally"
            f" ({result.walk_forward_bars} by {result.refits} walk-forward refits, {result.production_bars} by the"
            f" model itself)\n"
            f"backtest {summary.job_id} (ml_signal version {summary.strategy_version}): {int(metrics.get('trades', 0))}"
            f" trades, return {metrics.get('total_return_pct', 0.0):.2f}%, Sharpe {metrics.get('sharpe', 0.0):.2f}"
        )
