"""A served exchange refuses bad requests before running anything, and says why; the caller sees the matching
exception. Undeclared failures arrive as RemoteDomainError with the request id the caller's logs carry."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
import structlog

from dsta.exchange import api as exchange_api
from dsta.exchange.contracts import ExchangeUnavailable, TransientError
from dsta.kernel.rpc import (
    RemoteBadRequest,
    RemoteDomainError,
    RemoteFunctionNotFound,
    RemotePayloadTooLarge,
    RemoteSignatureRefused,
    RemoteUnavailable,
    signing,
)
from dsta.kernel.rpc.codec import FunctionCodec
from dsta.kernel.tests.served import remote

pytestmark = pytest.mark.django_db(databases=["default", "exchange"])
BODY = b'{"asset": "USDT", "amount": "5"}'
PATH = "/rpc/exchange/paper_deposit"


@pytest.fixture(scope="module")
def served_exchange(served_domains):
    with remote("exchange", served=served_domains) as running:
        yield running["exchange"]


def usdt() -> Decimal:
    return {b.asset: b.total for b in exchange_api.balance_get(venue="paper")}.get("USDT", Decimal(0))


def post(url: str, body: bytes, headers: dict[str, str], path: str = PATH) -> httpx.Response:
    return httpx.post(f"{url}{path}", content=body, headers=headers, timeout=10)


def test_probes_and_metrics(served_exchange):
    assert httpx.get(f"{served_exchange.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{served_exchange.url}/readyz").json()
    assert ready == {"status": "ready", "checks": {"db:exchange": "ok", "redis": "ok"}}
    exchange_api.venues_list()
    metrics = httpx.get(f"{served_exchange.url}/metrics").text
    assert 'dsta_rpc_calls_total{function="venues_list",outcome="ok"}' in metrics


def test_unsigned_forged_stale_and_replayed_requests_are_refused_and_run_nothing(served_exchange):
    exchange_api.paper_reset()
    key = signing.domain_key("exchange")
    refused = [
        post(served_exchange.url, BODY, {}),
        post(served_exchange.url, BODY, signing.sign(b"forged-key", path=PATH, body=BODY)),
        post(served_exchange.url, b'{"asset": "USDT", "amount": "500"}', signing.sign(key, path=PATH, body=BODY)),
        post(served_exchange.url, BODY, signing.sign(key, path=PATH, body=BODY, now=1_000_000_000)),
    ]
    assert [r.status_code for r in refused] == [401] * 4
    assert [r.json()["detail"].split(" (")[0] for r in refused] == [
        "missing signature headers",
        "bad signature",
        "bad signature",
        "stale signature",
    ]
    good = signing.sign(key, path=PATH, body=BODY)
    assert post(served_exchange.url, BODY, good).status_code == 200
    assert post(served_exchange.url, BODY, good).json()["detail"] == "replayed request"
    assert usdt() == Decimal(5)  # only the one good request ran


def test_unknown_function_oversized_body_and_bad_arguments_are_4xx_and_raise_on_the_caller(served_exchange, settings):
    key = signing.domain_key("exchange")
    unknown = post(
        served_exchange.url,
        b"{}",
        signing.sign(key, path="/rpc/exchange/os_system", body=b"{}"),
        "/rpc/exchange/os_system",
    )
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_function"
    huge = b'{"asset": "' + b"x" * (5 * 1024 * 1024) + b'", "amount": "1"}'
    assert post(served_exchange.url, huge, signing.sign(key, path=PATH, body=huge)).status_code == 413
    bad = b'{"asset": "USDT", "amount": "lots"}'
    answer = post(served_exchange.url, bad, signing.sign(key, path=PATH, body=bad))
    assert answer.status_code == 400 and answer.json()["detail"] == "Invalid decimal string - at `$.amount`"

    with pytest.raises(RemoteBadRequest, match="bad_arguments"):
        exchange_api.paper_deposit(asset="USDT", amount="lots")  # type: ignore[arg-type]
    with pytest.raises(RemotePayloadTooLarge):
        exchange_api.paper_deposit(asset="x" * (5 * 1024 * 1024), amount=Decimal(1))
    proxy = exchange_api.venues_list.__dsta_remote__  # type: ignore[attr-defined]
    with pytest.raises(RemoteFunctionNotFound):
        proxy.call(FunctionCodec(exchange_api.venues_list, "venues_everywhere"), {})
    saved, proxy.key = proxy.key, b"wrong"
    try:
        with pytest.raises(RemoteSignatureRefused, match="bad signature"):
            exchange_api.venues_list()
    finally:
        proxy.key = saved


def test_an_undeclared_failure_is_a_remote_domain_error_with_the_callers_request_id(served_exchange):
    with (
        structlog.contextvars.bound_contextvars(request_id="caller-req-42"),
        pytest.raises(RemoteDomainError) as failed,
    ):
        exchange_api.paper_deposit(asset="A" * 200, amount=Decimal(1))  # too long for the column
    assert type(failed.value) is RemoteDomainError and failed.value.request_id == "caller-req-42"
    assert "HTTP 500" in str(failed.value) and "request_id=caller-req-42" in str(failed.value)
    assert "caller-req-42" in served_exchange.child.log_path.read_text()  # the service logged under our id


def test_an_unreachable_service_is_the_transient_error_callers_already_handle(served_exchange, monkeypatch):
    proxy = exchange_api.venues_list.__dsta_remote__  # type: ignore[attr-defined]
    monkeypatch.setattr(proxy, "base_url", "http://127.0.0.1:9")
    monkeypatch.setattr(proxy, "deadline", 0.5)
    monkeypatch.setattr(proxy, "_client", None)
    with pytest.raises(RemoteUnavailable) as unavailable:
        exchange_api.venues_list()
    assert isinstance(unavailable.value, ExchangeUnavailable) and isinstance(unavailable.value, TransientError)
    proxy.close()
