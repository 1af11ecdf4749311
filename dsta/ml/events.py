"""The events the ml domain publishes: declared in `dsta/events/ml.py` (layer-neutral, so a domain
below this one may subscribe by class), re-exported here for this domain and its consumers."""

from __future__ import annotations

from dsta.events.ml import PredictionMade

__all__ = ["PredictionMade"]
