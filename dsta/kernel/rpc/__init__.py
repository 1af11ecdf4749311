"""Facade calls over HTTP: the strangler's seam.

`DSTA_REMOTE_<DOMAIN>=http://host:port` turns every public function of `dsta.<domain>.api` in this process into a
remote call with the same signature and return types (`install`, at app start); unset, nothing changes and the
call stays a plain in-process function call. `manage.py serve_domain DOMAIN` serves the other end
(`dsta.kernel.rpc.server`). The wire format is JSON encoded and decoded by msgspec from the functions' type
hints (`codec`); requests are signed with HMAC-SHA256 (`signing`).
"""

from dsta.kernel.rpc.errors import (
    RemoteBadRequest,
    RemoteCallRefused,
    RemoteDomainError,
    RemoteFunctionNotFound,
    RemotePayloadTooLarge,
    RemoteSignatureRefused,
    RemoteUnavailable,
)

__all__ = [
    "RemoteBadRequest",
    "RemoteCallRefused",
    "RemoteDomainError",
    "RemoteFunctionNotFound",
    "RemotePayloadTooLarge",
    "RemoteSignatureRefused",
    "RemoteUnavailable",
]
