"""Frozen dataclasses that cross the exchange domain's boundary."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Venue:
    name: str  # our name, used in URLs and stored ids
    ccxt_id: str  # the ccxt exchange class that speaks its dialect
    display_name: str
    paper: bool  # True for the simulated venue used by dry-run trading
