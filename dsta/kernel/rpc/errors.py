"""What a caller sees when a remote facade call fails for a reason of the hop, not of the domain."""

from __future__ import annotations


class RemoteDomainError(Exception):
    """The remote domain failed in a way its facade does not declare (a bug, a crash): nothing to retry."""

    def __init__(self, message: str, *, domain: str = "", function: str = "", request_id: str = "") -> None:
        super().__init__(f"{message} (domain={domain} function={function} request_id={request_id or '-'})")
        self.domain = domain
        self.function = function
        self.request_id = request_id


class RemoteUnavailable(RemoteDomainError):
    """The remote domain could not be reached or did not answer in time; the same call may succeed later.
    A domain whose contracts name `REMOTE_UNAVAILABLE_ERROR` also sees it as that class (see client)."""


class RemoteCallRefused(RemoteDomainError):
    """The server refused the request before running anything (4xx)."""


class RemoteSignatureRefused(RemoteCallRefused):
    """401: missing, forged or stale signature (wrong key, clock skew beyond the window, replay)."""


class RemoteFunctionNotFound(RemoteCallRefused):
    """404: the served facade has no such public function (version skew between caller and service)."""


class RemotePayloadTooLarge(RemoteCallRefused):
    """413: the request body is over the server's limit."""


class RemoteBadRequest(RemoteCallRefused):
    """400: the arguments did not decode into the function's parameter types."""
