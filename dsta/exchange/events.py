"""The events the exchange domain publishes: declared in `dsta/events/exchange.py` (layer-neutral, so a domain
below this one may subscribe by class), re-exported here for this domain and its consumers."""

from __future__ import annotations

from dsta.events.exchange import FillRecorded, OrderUpdated

__all__ = ["OrderUpdated", "FillRecorded"]
