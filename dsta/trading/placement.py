"""An order as a person asks for it over the API: plain, TWAP or VWAP; placed, its algorithm started (by the
actors, which sit on top of the order package), audited."""

from __future__ import annotations

from dataclasses import dataclass

from dsta.trading import services
from dsta.trading.actors import twap_start, vwap_start
from dsta.trading.models import Order
from dsta.trading.models import OrderStatus as S
from dsta.trading.orders import DEFAULT_LOOKBACK_DAYS, NewOrder, order_place, twap_create, vwap_create


@dataclass(frozen=True)
class AlgoRequest:
    kind: str  # "twap" or "vwap"
    slices: int
    duration_seconds: int
    lookback_days: int = DEFAULT_LOOKBACK_DAYS  # VWAP's volume profile


def order_request(*, new: NewOrder, algo: AlgoRequest | None, client_address: str | None = None) -> Order:
    """Place `new` (worked by `algo` when given) for its `user_id` and audit it. Raises OrderInputError (bad
    input) and ClientOrderIdTaken (another user's client_order_id) before anything is stored or audited."""
    if algo is None:
        order = order_place(new)
    elif algo.kind == "twap":
        order = twap_create(new, slices=algo.slices, duration_seconds=algo.duration_seconds)
        if order.status == S.SUBMITTED:
            twap_start(order.pk)  # the worker places the slices
    else:
        order = vwap_create(
            new, slices=algo.slices, duration_seconds=algo.duration_seconds, lookback_days=algo.lookback_days
        )
        if order.status == S.SUBMITTED:
            vwap_start(order.pk)  # the worker places the children at their due times
    services.audit(
        actor_id=new.user_id,
        client_address=client_address,
        action="trading.order.place",
        target=order.client_order_id,
        details={"order_id": order.pk, "status": order.status, "symbol": order.symbol, "side": order.side},
    )
    return order
