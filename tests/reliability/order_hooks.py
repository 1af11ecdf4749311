"""schemathesis hooks for the stateful order test: generated order bodies keep their side, order type and
client order id but trade the funded paper market in small sizes, so that orders get created and the inferred
links (read, fills, cancel by the new order's id) are followed, not stopped at a 400."""

from __future__ import annotations

from typing import Any

import schemathesis

SYMBOL = "DOT/USDT"  # its own market: the reliability tests share one database, each on a symbol of its own
ALGO_FIELDS = ("strategy_instance_id", "twap_slices", "twap_duration_seconds", "vwap_slices", "vwap_duration_seconds")


@schemathesis.hook
def map_body(ctx: Any, body: Any) -> Any:
    if ctx.operation.path != "/api/v1/orders" or not isinstance(body, dict):
        return body
    order = {key: value for key, value in body.items() if key not in (*ALGO_FIELDS, "vwap_lookback_days")}
    order.update(exchange="paper", symbol=SYMBOL, quantity="0.001")
    order["side"] = order.get("side") if order.get("side") in ("buy", "sell") else "buy"
    order["order_type"] = order.get("order_type") if order.get("order_type") in ("market", "limit") else "market"
    if order["order_type"] == "limit":
        order["price"] = "90" if order["side"] == "buy" else "110"  # rests in the book: cancellable
    else:
        order.pop("price", None)
    return order
