"""The one way out to a URL someone other than the operator chose (webhooks, the Telegram API base, ...).

A request may reach only public addresses: loopback, private, link-local (cloud metadata at 169.254.169.254),
shared, reserved and multicast addresses are refused, checked on the addresses the name resolves to (every one of
them), and the connection is made to the address that was checked, so a name that re-resolves between the check
and the connect (DNS rebinding) gets nowhere. Redirects are not followed (they would carry the signature headers
elsewhere). The operator may allow more with DSTA_OUTBOUND_ALLOWLIST: host names, `host:port` or networks (CIDR).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundRefused(ValueError):
    """The destination is not one this server may call; the message names no resolved address or port state."""


def _allowlist() -> list[str]:
    return [entry.strip().lower() for entry in getattr(settings, "DSTA_OUTBOUND_ALLOWLIST", []) if entry.strip()]


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _allowed(address: IPAddress, host: str, port: int) -> bool:
    if _public(address):
        return True
    for entry in _allowlist():
        if entry in (host, f"{host}:{port}"):
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # a host name entry, not a network
    return False


def resolve_checked(host: str, port: int) -> list[tuple[Any, ...]]:
    """getaddrinfo results for host:port, all of them allowed; raises OutboundRefused otherwise."""
    host = host.lower().strip("[]")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise OutboundRefused(f"{host} does not resolve") from None
    if not infos:
        raise OutboundRefused(f"{host} does not resolve")
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not _allowed(address, host, port):
            raise OutboundRefused(f"{host} is not a public address (set DSTA_OUTBOUND_ALLOWLIST to allow it)")
    return infos


def check_url(url: str) -> None:
    """Raise OutboundRefused unless `url` is http(s) to an allowed destination."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundRefused("only http(s) URLs with a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise OutboundRefused("the URL's port is not a number") from None
    resolve_checked(parts.hostname, port)


def _checked_connection(address: tuple[str, int], timeout: Any = None, source_address: Any = None) -> socket.socket:
    """socket.create_connection to an address just checked, never to a second resolution of the name."""
    host, port = address
    last_error: OSError | None = None
    for family, kind, proto, _, sockaddr in resolve_checked(host, port):
        sock = socket.socket(family, kind, proto)
        try:
            if isinstance(timeout, int | float):  # else http.client's "default timeout" sentinel
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last_error = exc
    raise last_error or OSError("no address to connect to")


class _CheckedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _checked_connection


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _checked_connection  # TLS still verifies the certificate for the host name


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_CheckedHTTPConnection, req)


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_CheckedHTTPSConnection, req)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx reaches the caller as an HTTPError


_opener = urllib.request.build_opener(
    urllib.request.ProxyHandler({}), _CheckedHTTPHandler, _CheckedHTTPSHandler, _NoRedirects
)


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> bytes:
    """POST to an allowed destination; raises OutboundRefused, urllib.error.HTTPError (a 3xx included) or
    OSError."""
    check_url(url)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with _opener.open(request, timeout=timeout) as response:
            return bytes(response.read())
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, OutboundRefused):
            raise exc.reason from None
        raise
