"""Strategies: one implementation runs in backtests (event and fast path), paper and live trading."""
