"""The events the core domain publishes: declared in `dsta/events/core.py` (layer-neutral, so a domain
below this one may subscribe by class), re-exported here for this domain and its consumers."""

from __future__ import annotations

from dsta.events.core import ConfigChanged

__all__ = ["ConfigChanged"]
