"""Backtesting: event-driven engine, vectorised fast path, and the analyses built on them."""
