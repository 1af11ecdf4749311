"""Dramatiq actors and event handlers of the data domain."""

from dsta.data.backtesting import actors as backtesting_actors  # noqa: F401  (declares the backtest actors)
