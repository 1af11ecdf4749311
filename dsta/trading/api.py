"""Facade of the trading domain."""

from __future__ import annotations

from dsta.trading import orders, selectors, services
from dsta.trading.contracts import BotRefused, BotView, MarkPriceView, OrderView, PnlLine, PositionView, RiskState


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


def bots_list(*, signals: int = 5) -> list[BotView]:
    """Every strategy instance as a bot, with its own position and P&L at the last close it decided on."""
    from dsta.trading import bot_selectors

    return bot_selectors.bots_list(signals=signals)


def bot_state_set(*, instance_id: int, state: str, actor_id: int | None) -> BotView:
    """Start (`running`), pause (`paused`) or stop (`stopped`) an instance; audited. Raises BotRefused."""
    from dsta.trading import bot, bot_selectors

    change = {"running": bot.bot_start, "paused": bot.bot_pause, "stopped": bot.bot_stop}.get(state)
    if change is None:
        raise BotRefused({"state": "expected running, paused or stopped"})
    try:
        change(instance_id=instance_id, actor_id=actor_id)
    except bot.BotInputError as exc:
        raise BotRefused(exc.errors) from None
    return bot_selectors.bots_list(signals=5, instance_id=instance_id)[0]
