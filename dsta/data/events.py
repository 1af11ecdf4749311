"""The events the data domain publishes: declared in `dsta/events/data.py` (layer-neutral, so a domain
below this one may subscribe by class), re-exported here for this domain and its consumers."""

from __future__ import annotations

from dsta.events.data import CandleClosed

__all__ = ["CandleClosed"]
