"""The venues behind the exchange facade, one protocol (`base.TradingVenue`) for all: the paper venue and the
ccxt venues. The facade picks a venue once per call (`venue_for`) and never asks which kind it got."""

from __future__ import annotations

import threading

from dsta.exchange.ccxt_venue import CcxtVenue
from dsta.exchange.contracts import UnknownVenue, Venue
from dsta.exchange.venues.base import TradingVenue
from dsta.exchange.venues.ccxt import LiveVenue
from dsta.exchange.venues.paper import PaperVenue

VENUES = (
    Venue(name="binance", ccxt_id="binance", display_name="Binance", paper=False),
    Venue(name="gateio", ccxt_id="gate", display_name="Gate.io", paper=False),
    Venue(name="htx", ccxt_id="htx", display_name="HTX (Huobi)", paper=False),
    Venue(name="paper", ccxt_id="", display_name="Paper exchange", paper=True),
)
_BY_NAME = {venue.name: venue for venue in VENUES}
PAPER_VENUE = "paper"
_PAPER = PaperVenue()
_live: dict[str, LiveVenue] = {}
_live_lock = threading.Lock()

__all__ = [
    "PAPER_VENUE",
    "VENUES",
    "LiveVenue",
    "PaperVenue",
    "TradingVenue",
    "live_venue_for",
    "live_venues_forget",
    "venue_for",
]


def venue_for(name: str) -> TradingVenue:
    if name not in _BY_NAME:
        raise UnknownVenue(f"unknown venue {name!r}; expected one of {sorted(_BY_NAME)}")
    return _PAPER if _BY_NAME[name].paper else live_venue_for(name)


def live_venue_for(name: str) -> LiveVenue:
    """The venue's one ccxt client per process (its rate limiter and breaker state are shared through Redis)."""
    if name not in _BY_NAME or _BY_NAME[name].paper:
        live = sorted(venue.name for venue in VENUES if not venue.paper)
        raise UnknownVenue(f"unknown live venue {name!r}; expected one of {live}")
    with _live_lock:
        venue = _live.get(name)
        if venue is None:
            venue = _live[name] = LiveVenue(CcxtVenue(_BY_NAME[name]))
        return venue


def live_venues_forget() -> None:
    """Drop the cached clients (after credentials or base URLs change; tests)."""
    with _live_lock:
        _live.clear()
