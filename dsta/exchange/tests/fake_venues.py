"""Local HTTP servers that speak the REST dialects of Binance, Gate.io and HTX for the calls DSTA makes, so
the real ccxt client code path runs in tests without the internet. Faults are injected per route:

    server.faults.add("POST /api/v3/order", "apply_then_500")

Kinds: "429" (with Retry-After), "418", "500", "503", "slow:<seconds>" (then an empty answer),
"delay:<seconds>" (then the normal answer), "malformed", "drop" (close the
connection without an answer), and "apply_then_<kind>" (do the work, e.g. open the order, then fail the
answer: the case that makes a naive retry open a second order).
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

NOW_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z


@dataclass
class FakeOrder:
    order_id: str
    client_order_id: str
    symbol: str  # venue-native id, e.g. BTCUSDT / BTC_USDT / btcusdt
    side: str
    order_type: str
    amount: Decimal
    price: Decimal | None
    status: str = "open"  # open / filled / cancelled
    filled: Decimal = Decimal(0)
    created_ms: int = NOW_MS


class Faults:
    def __init__(self) -> None:
        self._queues: dict[str, deque[str]] = defaultdict(deque)
        self._lock = threading.Lock()

    def add(self, route: str, *kinds: str) -> None:
        with self._lock:
            self._queues[route].extend(kinds)

    def take(self, route: str) -> str | None:
        with self._lock:
            queue = self._queues.get(route)
            return queue.popleft() if queue else None

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class Dialect:
    """One venue's routes over a shared order store."""

    name = ""

    def __init__(self) -> None:
        self.orders: dict[str, FakeOrder] = {}
        self.balances = {"USDT": (Decimal("10000"), Decimal("0")), "BTC": (Decimal("1.5"), Decimal("0"))}
        self.created: list[str] = []  # client order ids, one per order actually opened
        self.next_id = 1000
        self.lock = threading.Lock()

    def route(self, method: str, path: str, params: dict[str, str]) -> Reply | None:
        raise NotImplementedError

    market_buy_in_quote = False  # Gate.io and HTX take a market buy's size as the quote amount to spend
    fill_price = Decimal(100)

    def open_order(
        self, *, symbol: str, side: str, order_type: str, amount: str, price: str | None, cid: str
    ) -> FakeOrder:
        size = Decimal(amount)
        if order_type.lower() == "market" and side.lower() == "buy" and self.market_buy_in_quote:
            size = size / self.fill_price
        # No duplicate check on purpose: a second create with the same client id opens a second order here,
        # so a test sees every duplicate the client would cause.
        with self.lock:
            self.next_id += 1
            order = FakeOrder(
                order_id=str(self.next_id),
                client_order_id=cid,
                symbol=symbol,
                side=side.lower(),
                order_type=order_type.lower(),
                amount=size,
                price=Decimal(price) if price else None,
            )
            if order.order_type == "market":
                order.status, order.filled, order.price = "filled", order.amount, self.fill_price
            self.orders[order.order_id] = order
            self.created.append(cid)
            return order

    def find(self, *, order_id: str | None = None, cid: str | None = None) -> FakeOrder | None:
        for order in self.orders.values():
            if (order_id and order.order_id == order_id) or (cid and order.client_order_id == cid):
                return order
        return None


# -- Binance /api/v3 ---------------------------------------------------------------------------------------


class Binance(Dialect):
    name = "binance"

    def route(self, method: str, path: str, params: dict[str, str]) -> Reply | None:
        handlers = {
            ("GET", "/api/v3/exchangeInfo"): self.exchange_info,
            ("GET", "/api/v3/time"): lambda p: Reply(200, {"serverTime": NOW_MS}),
            ("GET", "/api/v3/ticker/24hr"): self.ticker,
            ("GET", "/api/v3/depth"): self.depth,
            ("GET", "/api/v3/aggTrades"): self.public_trades,
            ("GET", "/api/v3/klines"): self.klines,
            ("GET", "/api/v3/account"): self.account,
            ("POST", "/api/v3/order"): self.create,
            ("GET", "/api/v3/order"): self.get,
            ("DELETE", "/api/v3/order"): self.cancel,
            ("GET", "/api/v3/openOrders"): self.open_orders,
            ("GET", "/api/v3/myTrades"): self.trades,
        }
        handler = handlers.get((method, path))
        return handler(params) if handler else None

    @staticmethod
    def exchange_info(params: dict[str, str]) -> Reply:
        def symbol(base: str, quote: str, tick: str, step: str) -> dict[str, Any]:
            return {
                "symbol": base + quote,
                "status": "TRADING",
                "baseAsset": base,
                "baseAssetPrecision": 8,
                "quoteAsset": quote,
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "orderTypes": ["LIMIT", "MARKET"],
                "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False,
                "permissions": ["SPOT"],
                "permissionSets": [["SPOT"]],
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000.00", "tickSize": tick},
                    {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "9000.00", "stepSize": step},
                    {"filterType": "NOTIONAL", "minNotional": "5.00", "maxNotional": "9000000.00"},
                ],
            }

        return Reply(
            200,
            {
                "timezone": "UTC",
                "serverTime": NOW_MS,
                "rateLimits": [],
                "symbols": [symbol("BTC", "USDT", "0.01", "0.00001"), symbol("ETH", "USDT", "0.01", "0.0001")],
            },
        )

    @staticmethod
    def ticker(params: dict[str, str]) -> Reply:
        return Reply(
            200,
            {
                "symbol": params["symbol"],
                "bidPrice": "99.50",
                "bidQty": "1",
                "askPrice": "100.50",
                "askQty": "2",
                "lastPrice": "100.00",
                "volume": "1234.5",
                "quoteVolume": "123450",
                "openTime": NOW_MS - 86_400_000,
                "closeTime": NOW_MS,
                "highPrice": "110",
                "lowPrice": "90",
                "openPrice": "95",
            },
        )

    @staticmethod
    def depth(params: dict[str, str]) -> Reply:
        return Reply(
            200,
            {
                "lastUpdateId": 1,
                "bids": [["99.50", "1.0"], ["99.00", "2.0"]],
                "asks": [["100.50", "1.5"], ["101", "3"]],
            },
        )

    @staticmethod
    def public_trades(params: dict[str, str]) -> Reply:  # aggTrades, ccxt's default for Binance
        rows = [
            {"a": 7, "p": "100.10", "q": "0.5", "f": 70, "l": 71, "T": NOW_MS, "m": True},
            {"a": 8, "p": "100.20", "q": "0.25", "f": 72, "l": 72, "T": NOW_MS + 1, "m": False},
        ]
        return Reply(200, [{**row, "M": True} for row in rows])

    @staticmethod
    def klines(params: dict[str, str]) -> Reply:
        start = int(params.get("startTime", NOW_MS))
        rows = [
            [start + i * 3_600_000, "100", "110", "90", f"10{i}", "5.5", start + (i + 1) * 3_600_000 - 1]
            for i in range(3)
        ]
        return Reply(200, rows)

    def account(self, params: dict[str, str]) -> Reply:
        balances = [
            {"asset": asset, "free": str(free), "locked": str(used)} for asset, (free, used) in self.balances.items()
        ]
        return Reply(200, {"accountType": "SPOT", "canTrade": True, "balances": balances, "updateTime": NOW_MS})

    def _order(self, order: FakeOrder) -> dict[str, Any]:
        return {
            "symbol": order.symbol,
            "orderId": int(order.order_id),
            "clientOrderId": order.client_order_id,
            "transactTime": order.created_ms,
            "time": order.created_ms,
            "updateTime": order.created_ms,
            "price": str(order.price or "0"),
            "origQty": str(order.amount),
            "executedQty": str(order.filled),
            "cummulativeQuoteQty": str(order.filled * (order.price or 0)),
            "status": {"open": "NEW", "filled": "FILLED", "cancelled": "CANCELED"}[order.status],
            "timeInForce": "GTC",
            "type": order.order_type.upper(),
            "side": order.side.upper(),
        }

    def create(self, params: dict[str, str]) -> Reply:
        if Decimal(params["quantity"]) * Decimal(params.get("price") or "100") > self.balances["USDT"][0]:
            return Reply(400, {"code": -2010, "msg": "Account has insufficient balance for requested action."})
        order = self.open_order(
            symbol=params["symbol"],
            side=params["side"],
            order_type=params["type"],
            amount=params["quantity"],
            price=params.get("price"),
            cid=params["newClientOrderId"],
        )
        return Reply(200, self._order(order))

    def get(self, params: dict[str, str]) -> Reply:
        order = self.find(order_id=params.get("orderId"), cid=params.get("origClientOrderId"))
        if order is None:
            return Reply(400, {"code": -2013, "msg": "Order does not exist."})
        return Reply(200, self._order(order))

    def cancel(self, params: dict[str, str]) -> Reply:
        order = self.find(order_id=params.get("orderId"), cid=params.get("origClientOrderId"))
        if order is None or order.status != "open":
            return Reply(400, {"code": -2011, "msg": "Unknown order sent."})
        order.status = "cancelled"
        return Reply(200, self._order(order))

    def open_orders(self, params: dict[str, str]) -> Reply:
        return Reply(200, [self._order(o) for o in self.orders.values() if o.status == "open"])

    def trades(self, params: dict[str, str]) -> Reply:
        trades = [
            {
                "symbol": o.symbol,
                "id": int(o.order_id) * 10,
                "orderId": int(o.order_id),
                "price": str(o.price),
                "qty": str(o.filled),
                "quoteQty": str(o.filled * (o.price or 0)),
                "commission": "0.001",
                "commissionAsset": "BNB",
                "time": o.created_ms,
                "isBuyer": o.side == "buy",
                "isMaker": False,
            }
            for o in self.orders.values()
            if o.filled > 0
        ]
        return Reply(200, trades)


# -- the server ------------------------------------------------------------------------------------------


class FakeVenueServer:
    def __init__(self, dialect: Dialect, *, port: int = 0) -> None:
        self.dialect = dialect
        self.faults = Faults()
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, faulted ones included
        self.unknown: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeVenueServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def count(self, method: str, path: str) -> int:
        return sum(1 for request in self.requests if request == (method, path))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (quiet)
                pass

            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw_body = self.rfile.read(length).decode() if length else ""
                params = dict(parse_qsl(parts.query))
                if raw_body:
                    if raw_body.lstrip().startswith("{"):
                        params.update({k: str(v) for k, v in json.loads(raw_body).items()})
                    else:
                        params.update(parse_qsl(raw_body))
                server.requests.append((method, parts.path))
                fault = server.faults.take(f"{method} {parts.path}")
                if fault and fault.startswith("delay:"):  # the venue is slow to take the request in
                    time.sleep(float(fault.split(":", 1)[1]))
                    fault = None
                if fault and fault.startswith("apply_then_"):
                    server.dialect.route(method, parts.path, params)
                    fault = fault.removeprefix("apply_then_")
                if fault:
                    self._fault(fault)
                    return
                reply = server.dialect.route(method, parts.path, params)
                if reply is None:
                    server.unknown.append(f"{method} {self.path}")
                    reply = Reply(404, {"error": f"fake {server.dialect.name}: no route {method} {parts.path}"})
                self._send(reply.status, json.dumps(reply.body).encode(), reply.headers)

            def _fault(self, fault: str) -> None:
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault.startswith("slow:"):
                    time.sleep(float(fault.split(":", 1)[1]))
                    self._send(200, b"{}", {})
                    return
                if fault == "malformed":
                    self._send(200, b'{"symbol": "BTCUSDT", "bidPrice": ', {})
                    return
                throttled = fault in ("429", "418")
                headers = {"Retry-After": "1"} if throttled else {}
                body = (
                    {"code": -1003, "msg": "Too many requests"}
                    if throttled
                    else {"code": -1001, "msg": "Internal error"}
                )
                self._send(int(fault), json.dumps(body).encode(), headers)

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:  # noqa: N802
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

            def do_DELETE(self) -> None:  # noqa: N802
                self._serve("DELETE")

        return Handler


# -- Gate.io /api/v4 -------------------------------------------------------------------------------------


class Gate(Dialect):
    name = "gate"
    market_buy_in_quote = True

    def route(self, method: str, path: str, params: dict[str, str]) -> Reply | None:
        if path.startswith("/api/v4/spot/orders/"):
            order_id = path.rsplit("/", 1)[1]
            return self.get(order_id) if method == "GET" else self.cancel(order_id) if method == "DELETE" else None
        handlers = {
            ("GET", "/api/v4/spot/currency_pairs"): self.pairs,
            ("GET", "/api/v4/margin/currency_pairs"): lambda p: Reply(200, []),
            ("GET", "/api/v4/spot/currencies"): self.currencies,
            ("GET", "/api/v4/spot/time"): lambda p: Reply(200, {"server_time": NOW_MS}),
            ("GET", "/api/v4/spot/tickers"): self.tickers,
            ("GET", "/api/v4/spot/order_book"): self.book,
            ("GET", "/api/v4/spot/trades"): self.public_trades,
            ("GET", "/api/v4/spot/candlesticks"): self.candles,
            ("GET", "/api/v4/spot/accounts"): self.accounts,
            ("POST", "/api/v4/spot/orders"): self.create,
            ("GET", "/api/v4/spot/open_orders"): self.open_orders,
            ("GET", "/api/v4/spot/my_trades"): self.trades,
        }
        handler = handlers.get((method, path))
        return handler(params) if handler else None

    @staticmethod
    def pairs(params: dict[str, str]) -> Reply:
        def pair(base: str, quote: str) -> dict[str, Any]:
            return {
                "id": f"{base}_{quote}",
                "base": base,
                "quote": quote,
                "fee": "0.2",
                "min_base_amount": "0.0001",
                "min_quote_amount": "3",
                "amount_precision": 4,
                "precision": 2,
                "trade_status": "tradable",
                "sell_start": 0,
                "buy_start": 0,
            }

        return Reply(200, [pair("BTC", "USDT"), pair("ETH", "USDT")])

    @staticmethod
    def currencies(params: dict[str, str]) -> Reply:
        def currency(code: str) -> dict[str, Any]:
            flags = {"delisted": False, "withdraw_disabled": False, "withdraw_delayed": False}
            return {"currency": code, "name": code, "deposit_disabled": False, "trade_disabled": False, **flags}

        return Reply(200, [currency("BTC"), currency("ETH"), currency("USDT")])

    @staticmethod
    def tickers(params: dict[str, str]) -> Reply:
        ticker = {
            "currency_pair": params.get("currency_pair", "BTC_USDT"),
            "last": "100.00",
            "lowest_ask": "100.50",
            "highest_bid": "99.50",
            "change_percentage": "1",
            "base_volume": "1234.5",
            "quote_volume": "123450",
            "high_24h": "110",
            "low_24h": "90",
        }
        return Reply(200, [ticker])

    @staticmethod
    def book(params: dict[str, str]) -> Reply:
        body = {
            "id": 1,
            "current": NOW_MS,
            "update": NOW_MS,
            "bids": [["99.50", "1.0"], ["99.00", "2.0"]],
            "asks": [["100.50", "1.5"], ["101", "3"]],
        }
        return Reply(200, body)

    @staticmethod
    def public_trades(params: dict[str, str]) -> Reply:
        rows = [
            {"id": "7", "create_time_ms": str(NOW_MS), "side": "sell", "amount": "0.5", "price": "100.10"},
            {"id": "8", "create_time_ms": str(NOW_MS + 1), "side": "buy", "amount": "0.25", "price": "100.20"},
        ]
        return Reply(200, [{**row, "currency_pair": params["currency_pair"]} for row in rows])

    @staticmethod
    def candles(params: dict[str, str]) -> Reply:
        start = int(params.get("from", NOW_MS // 1000))
        rows = [[str(start + i * 3600), "550", f"10{i}", "110", "90", "100", "5.5", "true"] for i in range(3)]
        return Reply(200, rows)

    def accounts(self, params: dict[str, str]) -> Reply:
        rows = [
            {"currency": a, "available": str(free), "locked": str(used)} for a, (free, used) in self.balances.items()
        ]
        return Reply(200, rows)

    def _order(self, order: FakeOrder) -> dict[str, Any]:
        return {
            "id": order.order_id,
            "text": order.client_order_id,
            "create_time_ms": order.created_ms,
            "update_time_ms": order.created_ms,
            "currency_pair": order.symbol,
            "status": {"open": "open", "filled": "closed", "cancelled": "cancelled"}[order.status],
            "type": order.order_type,
            "account": "spot",
            "side": order.side,
            "amount": str(order.amount),
            "price": str(order.price or "0"),
            "time_in_force": "gtc",
            "left": str(order.amount - order.filled),
            "filled_amount": str(order.filled),
            "filled_total": str(order.filled * (order.price or 0)),
            "avg_deal_price": str(order.price or "0") if order.filled else "0",
            "fee": "0",
            "fee_currency": "USDT",
        }

    def create(self, params: dict[str, str]) -> Reply:
        if Decimal(params["amount"]) * Decimal(params.get("price") or "100") > self.balances["USDT"][0]:
            return Reply(400, {"label": "BALANCE_NOT_ENOUGH", "message": "Not enough balance"})
        order = self.open_order(
            symbol=params["currency_pair"],
            side=params["side"],
            order_type=params.get("type", "limit"),
            amount=params["amount"],
            price=params.get("price"),
            cid=params["text"],
        )
        return Reply(201, self._order(order))

    def get(self, order_id: str) -> Reply:
        order = self.find(order_id=order_id, cid=order_id)
        if order is None:
            return Reply(404, {"label": "ORDER_NOT_FOUND", "message": "Order not found"})
        return Reply(200, self._order(order))

    def cancel(self, order_id: str) -> Reply:
        order = self.find(order_id=order_id, cid=order_id)
        if order is None:
            return Reply(404, {"label": "ORDER_NOT_FOUND", "message": "Order not found"})
        order.status = "cancelled"
        return Reply(200, self._order(order))

    def open_orders(self, params: dict[str, str]) -> Reply:
        by_pair: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for order in self.orders.values():
            if order.status == "open":
                by_pair[order.symbol].append(self._order(order))
        return Reply(
            200, [{"currency_pair": pair, "total": len(rows), "orders": rows} for pair, rows in by_pair.items()]
        )

    def trades(self, params: dict[str, str]) -> Reply:
        rows = [
            {
                "id": str(int(o.order_id) * 10),
                "create_time_ms": str(o.created_ms),
                "currency_pair": o.symbol,
                "side": o.side,
                "role": "taker",
                "amount": str(o.filled),
                "price": str(o.price),
                "order_id": o.order_id,
                "fee": "0.01",
                "fee_currency": "USDT",
                "text": o.client_order_id,
            }
            for o in self.orders.values()
            if o.filled > 0
        ]
        return Reply(200, rows)


# -- HTX (Huobi) /v1 and /market ---------------------------------------------------------------------------


class Htx(Dialect):
    name = "htx"
    market_buy_in_quote = True
    account_id = 4242

    def route(self, method: str, path: str, params: dict[str, str]) -> Reply | None:
        if method == "GET" and path == f"/v1/account/accounts/{self.account_id}/balance":
            return self.balance(params)
        if method == "POST" and path.startswith("/v1/order/orders/") and path.endswith("/submitcancel"):
            return self.cancel(path.split("/")[4])
        if method == "GET" and path.startswith("/v1/order/orders/") and path.rsplit("/", 1)[1].isdigit():
            return self.get(order_id=path.rsplit("/", 1)[1])
        handlers = {
            ("GET", "/v1/common/symbols"): self.symbols,
            ("GET", "/v1/common/timestamp"): lambda p: self.ok(NOW_MS),
            ("GET", "/v2/reference/currencies"): self.currencies,
            ("GET", "/market/detail/merged"): self.ticker,
            ("GET", "/market/depth"): self.depth,
            ("GET", "/market/history/trade"): self.public_trades,
            ("GET", "/market/history/candles"): self.klines,
            ("GET", "/v1/account/accounts"): lambda p: self.ok(
                [{"id": self.account_id, "type": "spot", "subtype": "", "state": "working"}]
            ),
            ("POST", "/v1/order/orders/place"): self.create,
            ("GET", "/v1/order/orders/getClientOrder"): lambda p: self.get(cid=p.get("clientOrderId")),
            ("GET", "/v1/order/openOrders"): self.open_orders,
            ("GET", "/v1/order/matchresults"): self.trades,
        }
        handler = handlers.get((method, path))
        return handler(params) if handler else None

    @staticmethod
    def ok(data: Any, **extra: Any) -> Reply:
        return Reply(200, {"status": "ok", "data": data, "ts": NOW_MS, **extra})

    @staticmethod
    def error(code: str, message: str) -> Reply:
        return Reply(200, {"status": "error", "err-code": code, "err-msg": message, "data": None})

    def currencies(self, params: dict[str, str]) -> Reply:
        rows = [
            {"currency": code, "assetType": 1, "chains": [], "instStatus": "normal"} for code in ("btc", "eth", "usdt")
        ]
        return Reply(200, {"code": 200, "data": rows})

    def symbols(self, params: dict[str, str]) -> Reply:
        def symbol(base: str, quote: str) -> dict[str, Any]:
            return {
                "base-currency": base,
                "quote-currency": quote,
                "price-precision": 2,
                "amount-precision": 6,
                "symbol-partition": "main",
                "symbol": base + quote,
                "state": "online",
                "value-precision": 8,
                "min-order-amt": "0.0001",
                "max-order-amt": "1000",
                "min-order-value": "5",
                "api-trading": "enabled",
            }

        return self.ok([symbol("btc", "usdt"), symbol("eth", "usdt")])

    def ticker(self, params: dict[str, str]) -> Reply:
        tick = {
            "id": 1,
            "version": 1,
            "open": "95",
            "close": "100.00",
            "high": "110",
            "low": "90",
            "amount": "1234.5",
            "vol": "123450",
            "count": 10,
            "bid": ["99.50", "1"],
            "ask": ["100.50", "2"],
        }
        return Reply(
            200, {"status": "ok", "ch": f"market.{params['symbol']}.detail.merged", "ts": NOW_MS, "tick": tick}
        )

    def depth(self, params: dict[str, str]) -> Reply:
        tick = {
            "ts": NOW_MS,
            "version": 1,
            "bids": [[99.5, 1.0], [99.0, 2.0]],
            "asks": [[100.5, 1.5], [101, 3]],
        }
        return Reply(200, {"status": "ok", "ch": f"market.{params['symbol']}.depth.step0", "ts": NOW_MS, "tick": tick})

    def public_trades(self, params: dict[str, str]) -> Reply:
        def trade(trade_id: int, ts: int, side: str, amount: str, price: str) -> dict[str, Any]:
            return {"id": trade_id, "trade-id": trade_id, "ts": ts, "direction": side, "amount": amount, "price": price}

        batches = [
            {"id": 2, "ts": NOW_MS + 1, "data": [trade(8, NOW_MS + 1, "buy", "0.25", "100.20")]},
            {"id": 1, "ts": NOW_MS, "data": [trade(7, NOW_MS, "sell", "0.5", "100.10")]},
        ]
        return self.ok(batches)

    def klines(self, params: dict[str, str]) -> Reply:
        start = NOW_MS // 1000
        rows = [
            {
                "id": start + i * 3600,
                "open": 100,
                "close": 100 + i,
                "low": 90,
                "high": 110,
                "amount": 5.5,
                "vol": 550,
                "count": 3,
            }
            for i in reversed(range(3))  # newest first, as HTX sends them
        ]
        return self.ok(rows, ch=f"market.{params['symbol']}.kline.60min")

    def balance(self, params: dict[str, str]) -> Reply:
        rows = []
        for asset, (free, used) in self.balances.items():
            rows.append({"currency": asset.lower(), "type": "trade", "balance": str(free)})
            rows.append({"currency": asset.lower(), "type": "frozen", "balance": str(used)})
        return self.ok({"id": self.account_id, "type": "spot", "state": "working", "list": rows})

    def _order(self, order: FakeOrder) -> dict[str, Any]:
        return {
            "id": int(order.order_id),
            "client-order-id": order.client_order_id,
            "symbol": order.symbol,
            "account-id": self.account_id,
            "amount": str(order.amount),
            "price": str(order.price or "0"),
            "created-at": order.created_ms,
            "type": f"{order.side}-{order.order_type}",
            "field-amount": str(order.filled),
            "field-cash-amount": str(order.filled * (order.price or 0)),
            "field-fees": "0",
            "finished-at": 0,
            "source": "spot-api",
            "state": {"open": "submitted", "filled": "filled", "cancelled": "canceled"}[order.status],
            "canceled-at": 0,
        }

    def create(self, params: dict[str, str]) -> Reply:
        if Decimal(params["amount"]) * Decimal(params.get("price") or "100") > self.balances["USDT"][0]:
            return self.error("account-frozen-balance-insufficient-error", "trade account balance is not enough")
        side, order_type = params["type"].split("-", 1)
        order = self.open_order(
            symbol=params["symbol"],
            side=side,
            order_type=order_type,
            amount=params["amount"],
            price=params.get("price"),
            cid=params["client-order-id"],
        )
        return self.ok(order.order_id)

    def get(self, *, order_id: str | None = None, cid: str | None = None) -> Reply:
        order = self.find(order_id=order_id, cid=cid)
        if order is None:
            return self.error("base-record-invalid", "record invalid")
        return self.ok(self._order(order))

    def cancel(self, order_id: str) -> Reply:
        order = self.find(order_id=order_id)
        if order is None or order.status != "open":
            return self.error("order-orderstate-error", "order state error")
        order.status = "cancelled"
        return self.ok(order.order_id)

    def open_orders(self, params: dict[str, str]) -> Reply:
        return self.ok([self._order(o) for o in self.orders.values() if o.status == "open"])

    def trades(self, params: dict[str, str]) -> Reply:
        rows = [
            {
                "symbol": o.symbol,
                "fee-currency": "usdt",
                "source": "spot-api",
                "price": str(o.price),
                "created-at": o.created_ms,
                "role": "taker",
                "order-id": int(o.order_id),
                "match-id": int(o.order_id) * 3,
                "trade-id": int(o.order_id) * 10,
                "filled-amount": str(o.filled),
                "filled-fees": "0.01",
                "filled-points": "0",
                "fee-deduct-currency": "",
                "fee-deduct-state": "done",
                "id": int(o.order_id) * 100,
                "type": f"{o.side}-{o.order_type}",
            }
            for o in self.orders.values()
            if o.filled > 0
        ]
        return self.ok(rows)
