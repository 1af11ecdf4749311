from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from dsta.data.contracts import MarketKey
from dsta.data.live import latest_bars_publish
from dsta.data.services import ImportSource, candles_import_files

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"


class Command(BaseCommand):
    help = "Load the bundled real Binance 1h candles (five USDT pairs) into the data schema."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--paper-funds",
            default="USDT=10000",
            help="ASSET=AMOUNT deposited on the paper venue when it holds nothing yet ('' for none)",
        )

    def handle(self, *args: object, **options: object) -> None:
        funds = _parse_funds(str(options["paper_funds"] or ""))  # bad input fails before any work
        sources = []
        for path in sorted(DEMO_DIR.glob("*_USDT-1h.csv.gz")):
            base, rest = path.name.split("_", 1)
            quote, timeframe = rest.removesuffix(".csv.gz").split("-")
            sources.append(ImportSource(path, "binance", f"{base}/{quote}", timeframe))
        for report in candles_import_files(files=sources):
            self.stdout.write(
                f"{report.symbol} {report.timeframe}: {report.rows_read} rows, {report.rows_inserted} new"
            )
        # The last bar of each market, published and fed to the paper venue: trading's marks and the paper
        # venue's prices exist right after loading, so a paper order can be valued and filled at once.
        published = latest_bars_publish(markets=[MarketKey(s.exchange, s.symbol, s.timeframe) for s in sources])
        self.stdout.write(f"published the latest bar of {published} markets")
        if funds is not None:
            self._fund_paper(*funds)

    def _fund_paper(self, asset: str, amount: Decimal) -> None:
        from dsta.exchange import api as exchange_api

        if any(balance.total for balance in exchange_api.balance_get(venue="paper")):
            return  # a venue in use keeps what it has
        exchange_api.paper_deposit(asset=asset, amount=amount)
        self.stdout.write(f"paper venue funded with {amount} {asset}")


def _parse_funds(text: str) -> tuple[str, Decimal] | None:
    if not text:
        return None
    asset, _, amount = text.partition("=")
    try:
        value = Decimal(amount)
    except InvalidOperation:
        value = Decimal(0)
    if not asset.strip() or not value.is_finite() or value <= 0:
        raise CommandError(f"--paper-funds {text!r}: expected ASSET=AMOUNT with a positive amount, e.g. USDT=10000")
    return asset.strip().upper(), value
