"""Properties of the paper matching engine under any sequence of deposits, orders, cancels, books and candles
(hypothesis, stateful): no balance goes negative, what is locked is what open orders reserve, no order fills
more than its amount, every asset is conserved (deposits plus fills' flows), and resting orders are served in
price-time priority (a better price first, then the earlier order) out of the liquidity they share."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from dsta.exchange.contracts import (
    InsufficientFunds,
    InvalidOrder,
    OhlcvBar,
    OrderBook,
    OrderRequest,
    OrderSide,
    OrderType,
    PriceLevel,
)
from dsta.exchange.paper_engine import PaperConfig, PaperEngine, PaperFill, PaperOrder

D = Decimal
SYMBOL = "BTC/USDT"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
TOLERANCE = D("1e-12")  # market buys divide funds by price; Decimal rounds at 28 digits

prices = st.decimals(min_value=D(90), max_value=D(110), places=1)
amounts = st.decimals(min_value=D("0.1"), max_value=D(5), places=1)


def priority(order: PaperOrder) -> tuple[Decimal, int]:
    assert order.price is not None
    return (-order.price if order.side is OrderSide.BUY else order.price), int(order.order_id)


class PaperEngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = PaperEngine(PaperConfig(seed=7))
        self.deposited = {"BTC": D(0), "USDT": D(0)}
        self.fills: list[PaperFill] = []
        self.count = 0

    def _collect(self) -> list[PaperFill]:
        fills = self.engine.take_changes().fills
        self.fills += fills
        return fills

    def _resting(self) -> list[PaperOrder]:
        return [o for o in self.engine.open_by_symbol.get(SYMBOL, {}).values() if o.order_type is OrderType.LIMIT]

    @rule(asset=st.sampled_from(["BTC", "USDT"]), amount=st.decimals(min_value=D(1), max_value=D(2000), places=2))
    def deposit(self, asset: str, amount: Decimal) -> None:
        self.engine.deposit(asset, amount)
        self.deposited[asset] += amount
        self._collect()

    @rule(
        side=st.sampled_from(OrderSide),
        limit=st.booleans(),
        amount=amounts,
        price=prices,
    )
    def submit(self, side: OrderSide, limit: bool, amount: Decimal, price: Decimal) -> None:
        self.count += 1
        request = OrderRequest(
            symbol=SYMBOL,
            side=side,
            order_type=OrderType.LIMIT if limit else OrderType.MARKET,
            amount=amount,
            client_order_id=f"o{self.count}",
            price=price if limit else None,
        )
        before = {asset: (b.free, b.used) for asset, b in self.engine.balances.items()}
        try:
            self.engine.submit(request, now=NOW)
        except (InsufficientFunds, InvalidOrder):
            # refused before anything moved
            assert {asset: (b.free, b.used) for asset, b in self.engine.balances.items()} == before
            assert request.client_order_id not in self.engine.orders
        self._collect()

    @precondition(lambda self: self.count > 0)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        client_order_id = f"o{data.draw(st.integers(1, self.count))}"
        if client_order_id in self.engine.orders:  # a refused submit left no order
            self.engine.cancel(client_order_id, now=NOW)
        self._collect()

    @rule(bid=prices, spread=st.decimals(min_value=D("0.1"), max_value=D(5), places=1), depth=amounts)
    def book(self, bid: Decimal, spread: Decimal, depth: Decimal) -> None:
        ask = bid + spread
        resting = self._resting()
        self.engine.on_book(
            OrderBook("paper", SYMBOL, NOW, (PriceLevel(bid, depth),), (PriceLevel(ask, depth),)), now=NOW
        )
        fills = self._collect()
        crossed = [o for o in resting if (ask <= o.price if o.side is OrderSide.BUY else bid >= o.price)]  # type: ignore[operator]
        for side in OrderSide:
            self._check_priority([o for o in crossed if o.side is side], fills, liquidity=depth)

    @rule(
        open_=prices,
        low_offset=st.decimals(min_value=D(0), max_value=D(10), places=1),
        high_offset=st.decimals(min_value=D(0), max_value=D(10), places=1),
        volume=st.decimals(min_value=D(1), max_value=D(40), places=1),
    )
    def bar(self, open_: Decimal, low_offset: Decimal, high_offset: Decimal, volume: Decimal) -> None:
        low, high = open_ - low_offset, open_ + high_offset
        resting = self._resting()
        self.engine.on_bar(SYMBOL, OhlcvBar(NOW, open_, high, low, open_, volume), now=NOW)
        fills = self._collect()
        crossed = [o for o in resting if (low < o.price if o.side is OrderSide.BUY else high > o.price)]  # type: ignore[operator]
        for side in OrderSide:
            self._check_priority([o for o in crossed if o.side is side], fills, liquidity=None)

    def _check_priority(self, crossed: list[PaperOrder], fills: list[PaperFill], *, liquidity: Decimal | None) -> None:
        """Among resting orders of one side that the price reached, a later one in priority fills only once
        every earlier one is filled completely."""
        filled = {}
        for fill in fills:
            filled[fill.client_order_id] = filled.get(fill.client_order_id, D(0)) + fill.amount
        ranked = sorted(crossed, key=priority)
        for earlier_index, earlier in enumerate(ranked):
            if earlier.status.value == "filled":
                continue
            later = [o.client_order_id for o in ranked[earlier_index + 1 :] if filled.get(o.client_order_id)]
            assert not later, f"{later} filled before {earlier.client_order_id} ({earlier.price}) was filled"
        if liquidity is not None:
            assert sum(filled.get(o.client_order_id, D(0)) for o in crossed) <= liquidity

    @invariant()
    def no_negative_balance_and_locked_is_reserved(self) -> None:
        for asset, balance in self.engine.balances.items():
            assert balance.free >= 0 and balance.used >= 0, (asset, balance)
            reserved = sum(
                (
                    o.reserved
                    for o in self.engine.open_by_symbol.get(SYMBOL, {}).values()
                    if (o.quote if o.side is OrderSide.BUY else o.base) == asset
                ),
                D(0),
            )
            assert abs(balance.used - reserved) <= TOLERANCE, (asset, balance.used, reserved)

    @invariant()
    def fills_never_exceed_the_order(self) -> None:
        per_order: dict[str, Decimal] = {}
        for fill in self.fills:
            per_order[fill.client_order_id] = per_order.get(fill.client_order_id, D(0)) + fill.amount
        for order in self.engine.orders.values():
            assert 0 <= order.filled <= order.amount
            assert per_order.get(order.client_order_id, D(0)) == order.filled
            assert order.reserved >= 0

    @invariant()
    def assets_are_conserved(self) -> None:
        expected = dict(self.deposited)
        for fill in self.fills:
            notional = fill.amount * fill.price
            if fill.side is OrderSide.BUY:
                expected["BTC"] += fill.amount
                expected["USDT"] -= notional + fill.fee
            else:
                expected["BTC"] -= fill.amount
                expected["USDT"] += notional - fill.fee
        for asset, amount in expected.items():
            assert abs(self.engine.balance(asset).total - amount) <= TOLERANCE, (asset, amount)


PaperEngineMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_paper_engine_properties = PaperEngineMachine.TestCase
