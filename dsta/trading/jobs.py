"""Periodic work the scheduler sends (see `DSTA_SCHEDULE`), beyond P&L snapshots and order resume."""

from __future__ import annotations

from datetime import timedelta

import structlog
from django.db.models import Q

from dsta.exchange import api as exchange_api
from dsta.exchange.contracts import ExchangeError
from dsta.kernel.clock import utc_now
from dsta.trading.models import Order, Position
from dsta.trading.orders import FINAL

ALIAS = "trading"
RECENT = timedelta(days=1)
log = structlog.get_logger(__name__)


def live_fills_sync() -> dict[tuple[str, str], int]:
    """Ask each live venue for new fills of every market DSTA has an active or recent order or a position
    in; returns the new fills per market. One venue failing does not stop the others."""
    paper = {venue.name for venue in exchange_api.venues_list() if venue.paper}
    markets = set(
        Order.objects.using(ALIAS)
        .filter(Q(updated_at__gte=utc_now() - RECENT) | ~Q(status__in=FINAL))
        .values_list("exchange", "symbol")
        .distinct()
    ) | set(Position.objects.using(ALIAS).exclude(quantity=0).values_list("exchange", "symbol"))
    synced = {}
    for exchange, symbol in sorted(markets):
        if exchange in paper:
            continue
        try:
            synced[(exchange, symbol)] = exchange_api.fills_sync(venue=exchange, symbol=symbol)
        except ExchangeError as exc:
            log.warning("fills_sync_failed", exchange=exchange, symbol=symbol, error=str(exc)[:200])
    return synced
