"""Where a WebSocket client's credentials sit in a Channels scope, for every domain's consumers.

Browsers cannot set headers on a WebSocket, so a token (access token or API key) comes as a subprotocol pair,
`Sec-WebSocket-Protocol: dsta.bearer, <token>` (the server answers with `dsta.bearer`), or, older and logged
only redacted, as `?token=`. Without a token the session's user counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

BEARER_PROTOCOL = "dsta.bearer"


def scope_token(scope: Mapping[str, Any]) -> str:
    protocols = [str(protocol) for protocol in scope.get("subprotocols") or []]
    if BEARER_PROTOCOL in protocols:
        others = [protocol for protocol in protocols if protocol != BEARER_PROTOCOL]
        return others[0] if others else ""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return str((query.get("token") or [""])[0])


def scope_session_user_id(scope: Mapping[str, Any]) -> int | None:
    user = scope.get("user")
    return int(user.pk) if user is not None and user.is_authenticated else None
