"""The caller's side: proxies that replace a facade's functions and send each call to the served domain.

One pooled httpx client per domain and process (keep-alive connections, made again after a fork). A call
is encoded from the function's hints, signed, and sent with the caller's request id, user id and trace
parent; the answer is decoded into the declared return type, or into the declared exception. Reads are
retried on any transport failure; writes carry an idempotency key, so resending one after a timeout or a
dropped connection replays the first result instead of running it twice.
"""

from __future__ import annotations

import functools
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import structlog

from dsta.kernel.rpc import errors, signing
from dsta.kernel.rpc.codec import ErrorPayload, FunctionCodec, declared_exceptions, error_decode, exception_rebuild
from dsta.kernel.rpc.facades import contracts_module, facade_module, is_read, public_functions
from dsta.kernel.telemetry import outbound_context

log = structlog.get_logger("dsta.rpc")

REQUEST_ID_HEADER = "x-request-id"
USER_ID_HEADER = "x-dsta-user-id"
TRACEPARENT_HEADER = "traceparent"
IN_PROGRESS_STATUS = 409  # a write with this idempotency key is running now: wait and ask again
RETRYABLE_STATUSES = frozenset({IN_PROGRESS_STATUS, 502, 503, 504})
REFUSALS: dict[int, type[errors.RemoteCallRefused]] = {
    400: errors.RemoteBadRequest,
    401: errors.RemoteSignatureRefused,
    404: errors.RemoteFunctionNotFound,
    413: errors.RemotePayloadTooLarge,
}


def _setting(name: str, domain: str, default: str) -> str:
    return os.environ.get(f"{name}_{domain.upper()}", os.environ.get(name, default))


class RemoteDomain:
    """The connection to one served domain."""

    def __init__(self, domain: str, base_url: str) -> None:
        self.domain = domain
        self.base_url = base_url.rstrip("/")
        self.key = signing.domain_key(domain)
        self.timeout = float(_setting("DSTA_RPC_TIMEOUT_SECONDS", domain, "10"))
        self.attempts = max(1, int(_setting("DSTA_RPC_ATTEMPTS", domain, "4")))
        self.deadline = float(_setting("DSTA_RPC_DEADLINE_SECONDS", domain, str(2 * self.timeout)))
        contracts = contracts_module(domain)
        self.declared = declared_exceptions(contracts)
        transient = getattr(contracts, "REMOTE_UNAVAILABLE_ERROR", None)
        # What the domain's callers already handle as "try again later" is what an unreachable service raises.
        self.unavailable: type[errors.RemoteUnavailable] = (
            type(f"{domain.title()}RemoteUnavailable", (errors.RemoteUnavailable, transient), {})
            if transient is not None
            else errors.RemoteUnavailable
        )
        self._client: httpx.Client | None = None
        self._client_pid = 0

    @property
    def http(self) -> httpx.Client:
        if self._client is None or self._client_pid != os.getpid():
            self._client = httpx.Client(
                base_url=self.base_url,
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 2.0)),
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=30),
            )
            self._client_pid = os.getpid()
        return self._client

    def close(self) -> None:
        if self._client is not None and self._client_pid == os.getpid():
            self._client.close()
        self._client = None

    def call(self, codec: FunctionCodec, arguments: dict[str, Any]) -> Any:
        path = f"/rpc/{self.domain}/{codec.name}"
        body = codec.encode_arguments(arguments)
        read = is_read(codec.name)
        idempotency_key = "" if read else uuid.uuid4().hex
        carried = outbound_context()
        headers = {"content-type": "application/json"}
        if idempotency_key:
            headers[signing.IDEMPOTENCY_HEADER] = idempotency_key
        if "request_id" in carried:
            headers[REQUEST_ID_HEADER] = str(carried["request_id"])
        if "user_id" in carried:
            headers[USER_ID_HEADER] = str(carried["user_id"])
        if "traceparent" in carried:
            headers[TRACEPARENT_HEADER] = carried["traceparent"]
        give_up_at = time.monotonic() + self.deadline
        failure = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(min(0.05 * 4 ** (attempt - 1), max(0.0, give_up_at - time.monotonic())))
            signed = {**headers, **signing.sign(self.key, path=path, body=body, idempotency_key=idempotency_key)}
            try:
                response = self.http.post(path, content=body, headers=signed)
            except httpx.TransportError as exc:
                # A write is resent only under its idempotency key: the server replays a finished first try.
                failure = f"{type(exc).__name__}: {exc}"
                if time.monotonic() >= give_up_at:
                    break
                continue
            if response.status_code == 200:
                return codec.decode_result(response.content)
            if response.status_code in RETRYABLE_STATUSES and time.monotonic() < give_up_at:
                failure = f"HTTP {response.status_code}"
                continue
            raise self._error(codec.name, response)
        log.warning("rpc.unavailable", domain=self.domain, function=codec.name, error=failure)
        raise self.unavailable(
            f"{self.domain} service at {self.base_url} unavailable: {failure}",
            domain=self.domain,
            function=codec.name,
            request_id=headers.get(REQUEST_ID_HEADER, ""),
        )

    def _error(self, function: str, response: httpx.Response) -> BaseException:
        payload = error_decode(response.content) or ErrorPayload(error="unreadable", detail=response.text[:200])
        request_id = payload.request_id or response.headers.get(REQUEST_ID_HEADER, "")
        if payload.error == "domain_error":
            rebuilt = exception_rebuild(payload, self.declared)
            if rebuilt is not None:
                return rebuilt
        if response.status_code in RETRYABLE_STATUSES:
            kind: type[errors.RemoteDomainError] = self.unavailable
        else:
            kind = REFUSALS.get(response.status_code, errors.RemoteDomainError)
        return kind(
            f"{self.domain}.{function} failed remotely: HTTP {response.status_code} {payload.error}: {payload.detail}",
            domain=self.domain,
            function=function,
            request_id=request_id,
        )

    def proxy(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        codec = FunctionCodec(function, name)
        signature = codec.signature

        @functools.wraps(function)
        def remote_call(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)  # the same TypeError as the local function on a bad call
            return self.call(codec, bound.arguments)

        remote_call.__dsta_remote__ = self  # type: ignore[attr-defined]
        return remote_call


_installed: dict[str, tuple[RemoteDomain, dict[str, Callable[..., Any]]]] = {}


def install(domain: str, base_url: str) -> RemoteDomain:
    """Make every public function of `dsta.<domain>.api` a remote call to `base_url` (callers reach facades
    as `api.f(...)` through the module, so replacing the module's attributes reaches all of them)."""
    uninstall(domain)
    module = facade_module(domain)
    remote = RemoteDomain(domain, base_url)
    originals = public_functions(module)
    for name, function in originals.items():
        setattr(module, name, remote.proxy(name, function))
    _installed[domain] = (remote, originals)
    log.info("rpc.remote_domain", domain=domain, url=base_url, functions=len(originals))
    return remote


def uninstall(domain: str) -> None:
    """Back to in-process calls."""
    entry = _installed.pop(domain, None)
    if entry is None:
        return
    remote, originals = entry
    module = facade_module(domain)
    for name, function in originals.items():
        setattr(module, name, function)
    remote.close()


def installed(domain: str) -> RemoteDomain | None:
    entry = _installed.get(domain)
    return None if entry is None else entry[0]


def install_from_environment(domains: list[str], *, served: str = "") -> list[str]:
    """Install every domain named by `DSTA_REMOTE_<DOMAIN>` (never the one this process serves itself)."""
    done = []
    for domain in domains:
        url = os.environ.get(f"DSTA_REMOTE_{domain.upper()}", "")
        if url and domain != served:
            install(domain, url)
            done.append(domain)
    return done
