"""Drawdown monitor: portfolio equity (capital + realised + unrealised P&L at the marks) against its peak.
A drawdown beyond the limits' `max_drawdown_pct` opens the circuit breaker (no new order passes the risk
check), stores a `max_drawdown` violation and publishes it (core's notifications route it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction

from dsta.kernel.clock import utc_now
from dsta.trading import orders, services
from dsta.trading.models import CircuitBreaker, DrawdownState

ALIAS = "trading"
ZERO = Decimal(0)
PCT_QUANTUM = Decimal("0.000001")


@dataclass(frozen=True)
class DrawdownReading:
    equity: Decimal
    peak_equity: Decimal
    drawdown_pct: Decimal
    max_drawdown_pct: Decimal
    tripped: bool  # this check opened the breaker


def drawdown_check(*, at: datetime | None = None) -> DrawdownReading:
    """Value the portfolio now, move the peak, and trip the breaker once per peak when the drawdown from it
    is beyond the limit. Run on every mark move and P&L snapshot."""
    moment = at or utc_now()
    limits = services.risk_limits_current()
    total = orders.pnl_compute(at=moment)[-1]
    equity = limits.drawdown_capital + total.realised_pnl + total.unrealised_pnl
    tripped = False
    with transaction.atomic(using=ALIAS):
        state, _ = (
            DrawdownState.objects.using(ALIAS)
            .select_for_update()
            .get_or_create(pk=1, defaults={"peak_equity": equity, "peak_at": moment, "equity": equity})
        )
        if equity > state.peak_equity:
            state.peak_equity, state.peak_at, state.tripped_peak = equity, moment, None
        peak = state.peak_equity
        drawdown = ((peak - equity) / peak * 100).quantize(PCT_QUANTUM) if peak > ZERO else ZERO
        state.equity, state.drawdown_pct = equity, drawdown
        if drawdown > limits.max_drawdown_pct and state.tripped_peak != peak:
            breaker = CircuitBreaker.objects.using(ALIAS).filter(pk=1).first()
            reason = f"drawdown {drawdown}% from peak equity {peak} is beyond {limits.max_drawdown_pct}%"
            if breaker is None or not breaker.is_open:
                services.circuit_breaker_set(is_open=True, reason=reason[:300], actor_id=None)
            services.violation_record(
                rule="max_drawdown",
                message=reason,
                limit=str(limits.max_drawdown_pct),
                actual=str(drawdown),
                symbol="",
                limits_version=limits.version,
                context={"equity": str(equity), "peak_equity": str(peak), "at": moment.isoformat()},
            )
            state.tripped_peak, tripped = peak, True
        state.save(using=ALIAS)
    return DrawdownReading(equity, peak, drawdown, limits.max_drawdown_pct, tripped)
