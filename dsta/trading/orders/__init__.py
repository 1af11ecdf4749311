"""The order path: a persisted state machine, the placement saga (risk -> submitted -> exchange -> confirm),
fills into positions, P&L snapshots, reconciliation against the exchange, and the execution algorithms.

The saga never creates a duplicate exchange order: the order is stored as `submitted` (with its
client_order_id) before the exchange is called, the exchange deduplicates on that id, and a resume
re-submits every order left `submitted` with the same id. Each step is its own function so a crash between
any two can be replayed (tests do exactly that).

One module per concern: `state` (statuses, transitions, the row lock), `admission` (validation, the risk
snapshot and the one admission path), `submission` (exchange submit, confirm, fills into positions),
`lifecycle` (resume, sync, cancel), `pnl`, `reconcile`, `algos` (TWAP and VWAP). An API order (placed, its
algorithm started, audited) is `dsta.trading.placement`, above this package and the actors. This module
re-exports the names the rest of trading uses, so `from dsta.trading.orders import NewOrder, order_place` works.
"""

from __future__ import annotations

from dsta.trading.orders.admission import (
    NewOrder,
    RiskSnapshot,
    limits_and_book,
    limits_and_book_read,
    limits_and_book_statement,
    order_admit,
    order_create,
    order_known,
    order_risk_step,
    risk_check,
)
from dsta.trading.orders.algos import (
    DEFAULT_LOOKBACK_DAYS,
    QUANTUM,
    PlannedSlice,
    VolumeProfile,
    algo_place_child,
    algo_roll_up,
    next_slice_delay_ms,
    twap_create,
    twap_place_slice,
    twap_slice_quantity,
    volume_profile,
    vwap_create,
    vwap_place_slice,
    vwap_plan,
)
from dsta.trading.orders.lifecycle import order_cancel, order_sync, orders_resume
from dsta.trading.orders.pnl import pnl_compute, pnl_snapshot_take
from dsta.trading.orders.reconcile import PositionDrift, Reconciliation, positions_reconcile
from dsta.trading.orders.state import (
    FINAL,
    TRANSITIONS,
    ClientOrderIdTaken,
    IllegalTransition,
    OrderInputError,
    transition,
)
from dsta.trading.orders.submission import (
    fill_record,
    order_exchange_update,
    order_place,
    order_record_exchange_view,
    order_submit_step,
    orders_submit_held,
)

twap_roll_up = algo_roll_up  # the name TWAP's callers know; VWAP parents roll up the same way

__all__ = [
    "DEFAULT_LOOKBACK_DAYS",
    "FINAL",
    "QUANTUM",
    "TRANSITIONS",
    "ClientOrderIdTaken",
    "IllegalTransition",
    "NewOrder",
    "OrderInputError",
    "PlannedSlice",
    "PositionDrift",
    "RiskSnapshot",
    "Reconciliation",
    "VolumeProfile",
    "algo_place_child",
    "algo_roll_up",
    "fill_record",
    "limits_and_book",
    "limits_and_book_read",
    "limits_and_book_statement",
    "next_slice_delay_ms",
    "order_cancel",
    "order_admit",
    "order_create",
    "order_exchange_update",
    "order_known",
    "order_place",
    "order_record_exchange_view",
    "order_risk_step",
    "order_submit_step",
    "order_sync",
    "orders_resume",
    "orders_submit_held",
    "pnl_compute",
    "pnl_snapshot_take",
    "positions_reconcile",
    "risk_check",
    "transition",
    "twap_create",
    "twap_place_slice",
    "twap_roll_up",
    "twap_slice_quantity",
    "volume_profile",
    "vwap_create",
    "vwap_place_slice",
    "vwap_plan",
]
