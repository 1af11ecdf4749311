"""The built-in roles and what they grant (fnmatch patterns over `<area>.<resource>.<action>` names).

Migration 0004 seeds them (its own frozen copy); `ensure_built_in_roles` restores them, e.g. after a test
flush. Admins may edit permissions in the Django admin.
"""

from __future__ import annotations

from django.db import transaction

from dsta.core.models import Role

VIEWER = ["market_data.read", "trading.read", "ml.read"]
BUILT_IN_ROLES: dict[str, tuple[str, list[str]]] = {
    "admin": ("Everything, including secrets, config writes and user administration", ["*"]),
    "trader": (
        "Trades: orders, strategies, exchange accounts",
        [
            *VIEWER,
            "trading.*",
            "exchange.*",
            "config.read",
            "notifications.send",
            "notifications.read",
            "auth.api_key.manage",
        ],
    ),
    "analyst": (
        "Research: market data, backtests, ML",
        [*VIEWER, "data.*", "market_data.*", "ml.*", "config.read", "notifications.read", "auth.api_key.manage"],
    ),
    "viewer": ("Read-only dashboards", VIEWER),
}


def ensure_built_in_roles() -> None:
    with transaction.atomic():
        for name, (description, permissions) in BUILT_IN_ROLES.items():
            Role.objects.get_or_create(name=name, defaults={"description": description, "permissions": permissions})
