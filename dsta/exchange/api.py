"""Facade of the exchange domain: every exchange interaction of other domains goes through here."""

from __future__ import annotations

from dsta.exchange.contracts import Venue

_VENUES = (
    Venue(name="binance", ccxt_id="binance", display_name="Binance", paper=False),
    Venue(name="gateio", ccxt_id="gateio", display_name="Gate.io", paper=False),
    Venue(name="htx", ccxt_id="htx", display_name="HTX (Huobi)", paper=False),
    Venue(name="paper", ccxt_id="", display_name="Paper exchange", paper=True),
)


def venues_list() -> list[Venue]:
    """The venues DSTA trades on, the paper venue included."""
    return list(_VENUES)
