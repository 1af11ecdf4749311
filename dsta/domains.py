"""The list of domains and how each maps onto Postgres: one schema, one role, one DATABASES alias.

Project wiring only (settings, router, bootstrap); no domain imports this for business logic.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Domain:
    name: str  # python package under dsta/ and Django app label
    alias: str  # DATABASES alias
    schema: str  # Postgres schema
    role: str  # Postgres login role whose search_path is `schema`


DOMAINS: tuple[Domain, ...] = (
    # Django's contrib apps live with core, which is why core owns the `default` alias.
    Domain(name="core", alias="default", schema="core", role="dsta_core"),
    Domain(name="exchange", alias="exchange", schema="exchange", role="dsta_exchange"),
    Domain(name="data", alias="data", schema="data", role="dsta_data"),
    Domain(name="trading", alias="trading", schema="trading", role="dsta_trading"),
    Domain(name="ml", alias="ml", schema="ml", role="dsta_ml"),
)

DOMAIN_BY_NAME = {domain.name: domain for domain in DOMAINS}
DOMAIN_BY_ALIAS = {domain.alias: domain for domain in DOMAINS}

# Third-party and contrib app labels that belong to core's schema.
CORE_APP_LABELS = frozenset({"admin", "auth", "contenttypes", "sessions", "messages", "staticfiles"})


def alias_for_app(app_label: str) -> str | None:
    """The DATABASES alias an app's tables live in, or None for an app that owns no tables."""
    if app_label in DOMAIN_BY_NAME:
        return DOMAIN_BY_NAME[app_label].alias
    if app_label in CORE_APP_LABELS:
        return DOMAIN_BY_NAME["core"].alias
    return None
