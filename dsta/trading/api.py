"""Facade of the trading domain."""

from __future__ import annotations

from dsta.trading import orders, selectors, services
from dsta.trading.contracts import MarkPriceView, OrderView, PnlLine, PositionView, RiskState


def mark_price_get(*, exchange: str, symbol: str) -> MarkPriceView | None:
    """The latest closed-bar price trading has seen for a market, or None before the first bar."""
    return selectors.mark_price_get(exchange=exchange, symbol=symbol)


def pnl_current() -> list[PnlLine]:
    """P&L per market at the latest mark, then the portfolio total (exchange and symbol "")."""
    return [
        PnlLine(row.exchange, row.symbol, row.quantity, row.mark_price, row.realised_pnl, row.unrealised_pnl, row.fees)
        for row in orders.pnl_compute()
    ]


def positions_list() -> list[PositionView]:
    return selectors.positions_list()


def orders_open_list(*, limit: int = 100) -> list[OrderView]:
    """Orders not yet in a final state, newest first."""
    return selectors.orders_open_list(final_statuses=frozenset(orders.FINAL), limit=limit)


def risk_state_get(*, violations: int = 10) -> RiskState:
    """Limits in force, the circuit breaker, and the latest `violations` risk violations."""
    return selectors.risk_state(limits=services.risk_limits_current(), violations=violations)
